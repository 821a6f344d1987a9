"""What a pattern costs and what it keeps (beyond the paper).

Cost: a mask only saves time when a kernel can skip the work. For one head of one example with n
real tokens and head size d, dense attention does ``4 n^2 d`` FLOPs (``2 n^2 d`` for the scores
QK^T and ``2 n^2 d`` for PV, a multiply-add counted as 2) and holds ``n^2`` scores; a sparse kernel
that skips masked pairs does ``4 nnz d`` and holds ``nnz``. Block-sparse kernels
(FlexAttention, block-sparse flash attention) skip only whole ``b x b`` blocks that are entirely
masked, so the fraction of non-empty blocks bounds their speed-up.

Retained attention: on the pretrained (not finetuned) model, the share of each head's dense
attention probability that a mask keeps, ``sum_j P[i, j] * allowed[i, j]`` averaged over the
query rows i of real tokens. The dense mask keeps 1; a diagonal-only mask keeps ``P[i, i]``.

Timing: block-sparse FlexAttention with a block mask against dense SDPA, at synthetic sequence
lengths, for the patterns that are defined at any length (neighbour, random, BigBird) at a
target sparsity.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch


def attention_flops(num_pairs: int, head_dim: int) -> int:
    """FLOPs of one head's attention over num_pairs query/key pairs (scores + weighted values)."""
    return 4 * num_pairs * head_dim


def block_counts(allowed: np.ndarray, block: int) -> dict:
    """Blocks of a (n, n) mask cut into block x block tiles (the last ones partial): how many there
    are, how many hold any allowed pair (a block-sparse kernel computes those), and how many are
    entirely allowed (no per-element mask needed)."""
    n = allowed.shape[0]
    tiles = math.ceil(n / block)
    padded = np.zeros((tiles * block, tiles * block), dtype=bool)
    padded[:n, :n] = allowed
    valid = np.zeros_like(padded)
    valid[:n, :n] = True
    per_block = padded.reshape(tiles, block, tiles, block).sum((1, 3))
    valid_per_block = valid.reshape(tiles, block, tiles, block).sum((1, 3))
    return {
        "blocks": tiles * tiles,
        "non_empty": int((per_block > 0).sum()),
        "full": int(((per_block == valid_per_block) & (valid_per_block > 0)).sum()),
    }


def mask_cost(allowed: np.ndarray, head_dim: int, block_sizes=(16, 32, 64, 128)) -> dict:
    """Dense and sparse FLOPs and score memory of one (n, n) mask, and its block occupancy."""
    n = allowed.shape[0]
    pairs = int(allowed.sum())
    cost = {
        "n": n,
        "pairs": pairs,
        "flops_dense": attention_flops(n * n, head_dim),
        "flops_sparse": attention_flops(pairs, head_dim),
        "score_memory_dense": n * n,
        "score_memory_sparse": pairs,
    }
    for block in block_sizes:
        counts = block_counts(allowed, block)
        cost[f"blocks_non_empty_fraction_b{block}"] = counts["non_empty"] / counts["blocks"]
    return cost


def retained_mass_per_row(probabilities: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """(..., n, n) dense attention probabilities and an (n, n) mask -> (..., n) kept mass per query."""
    return (probabilities * allowed.to(probabilities.dtype)).sum(-1)


def retained_mass(probabilities: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """(layers, heads, n, n) -> (layers, heads): mean over query rows of the kept mass."""
    return retained_mass_per_row(probabilities, allowed).mean(-1)


def dense_attention_probabilities(model, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
    """(layers, heads, n, n) attention probabilities of one unpadded example under the dense model."""
    with torch.no_grad():
        outputs = model(input_ids=input_ids[None], token_type_ids=token_type_ids[None], output_attentions=True)
    return torch.stack([a[0] for a in outputs.attentions]).float()


def retained_mass_table(model, tokens, masks, max_examples: int = 200) -> np.ndarray:
    """(layers, heads) mean retained mass over the first max_examples examples of a split."""
    totals = None
    count = min(max_examples, len(tokens))
    for index in range(count):
        ids = torch.as_tensor(np.asarray(tokens["input_ids"].iloc[index], dtype=np.int64))
        types = torch.as_tensor(np.asarray(tokens["token_type_ids"].iloc[index], dtype=np.int64))
        probabilities = dense_attention_probabilities(model, ids, types)
        kept = retained_mass(probabilities, torch.as_tensor(masks.mask(index)))
        totals = kept if totals is None else totals + kept
    return (totals / max(count, 1)).numpy()


# ---------------------------------------------------------------------------------------------
# Kernel timing on synthetic lengths


def synthetic_mask(kind: str, length: int, sparsity: float, seed: int = 0) -> torch.Tensor:
    """An (L, L) mask of a position-defined pattern at (about) the target sparsity: neighbour w,
    random k per row (plus the diagonal), or BigBird (1 global token, the rest split between a
    window and random links)."""
    index = torch.arange(length)
    distance = (index[:, None] - index[None, :]).abs()
    density = 1 - sparsity
    if kind == "dense":
        return torch.ones(length, length, dtype=torch.bool)
    if kind == "neighbour":
        # pairs with |i - j| <= w: L(2w + 1) - w(w + 1) = density L^2
        w = int(round(((2 * length - 1) - math.sqrt((2 * length - 1) ** 2 - 4 * (density * length**2 - length))) / 2))
        return distance <= w
    generator = torch.Generator().manual_seed(seed)
    if kind == "random":
        k = max(0, int(round(density * length)) - 1)
        scores = torch.rand(length, length, generator=generator)
        chosen = scores.topk(k, dim=-1).indices if k else torch.empty(length, 0, dtype=torch.long)
        mask = torch.zeros(length, length, dtype=torch.bool)
        mask.scatter_(1, chosen, True)
        return mask | (distance == 0)
    if kind == "bigbird":
        window = synthetic_mask("neighbour", length, 1 - density / 2)
        rest = synthetic_mask("random", length, 1 - density / 2 + 2 / length, seed)
        mask = window | rest
        mask[0, :] = True
        mask[:, 0] = True
        return mask
    raise ValueError(f"timing pattern {kind!r}; allowed: dense, neighbour, random, bigbird")


def _best_of(function, repeats: int) -> float:
    function()  # warm-up (and compilation)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def time_block_sparse_vs_dense(mask: torch.Tensor, heads: int = 12, head_dim: int = 64, block: int = 128,
                               repeats: int = 3, backward: bool = False, device: str = "cpu") -> dict:
    """Seconds of dense SDPA and of FlexAttention with the mask's block mask, forward (and backward
    where FlexAttention supports it: not on CPU in torch 2.13)."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    length = mask.shape[0]
    on_device = mask.to(device)

    def mask_mod(b, h, q, k):
        return on_device[q, k]

    block_mask = create_block_mask(mask_mod, None, None, length, length, device=device, BLOCK_SIZE=block)
    flex = torch.compile(flex_attention, dynamic=False)
    q, k, v = (torch.randn(1, heads, length, head_dim, device=device, requires_grad=backward) for _ in range(3))

    def synchronize():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def dense():
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        if backward:
            out.sum().backward()
        synchronize()

    def sparse():
        out = flex(q, k, v, block_mask=block_mask)
        if backward:
            out.sum().backward()
        synchronize()

    dense_seconds = _best_of(dense, repeats)
    sparse_seconds = _best_of(sparse, repeats)
    return {
        "length": length,
        "sparsity": 1 - float(mask.float().mean()),
        "block": block,
        "blocks_non_empty_fraction": block_counts(mask.numpy(), block)["non_empty"] / math.ceil(length / block) ** 2,
        "dense_seconds": dense_seconds,
        "block_sparse_seconds": sparse_seconds,
        "speedup": dense_seconds / sparse_seconds,
        "pass": "forward+backward" if backward else "forward",
        "device": device,
    }
