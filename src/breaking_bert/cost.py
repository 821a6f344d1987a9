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
target sparsity. For the neighbour pattern there is also a band kernel (``banded_attention``):
each query block's key span through one batched SDPA call, which trains on CPU too.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
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


def cost_summary(masks, head_dim: int, block_sizes) -> dict:
    """A mask set's cost against dense: FLOPs and score-memory fractions over all its examples, and
    the mean fraction of non-empty kernel blocks at each block size."""
    costs = pd.DataFrame([mask_cost(masks.mask(i), head_dim, block_sizes) for i in range(len(masks))])
    return {
        "examples": len(costs),
        "flops_fraction": float(costs["flops_sparse"].sum() / costs["flops_dense"].sum()),
        "score_memory_fraction": float(costs["score_memory_sparse"].sum() / costs["score_memory_dense"].sum()),
        **{c: float(costs[c].mean()) for c in costs.columns if c.startswith("blocks_non_empty_fraction")},
    }


def retained_mass_frame(table: np.ndarray, **cell) -> pd.DataFrame:
    """A (layers, heads) table as rows of layer, head and retained mass, with the cell's names."""
    layers, heads = np.indices(table.shape)
    return pd.DataFrame({**cell, "layer": layers.ravel(), "head": heads.ravel(), "retained_mass": table.ravel()})


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


def positional_mask(kind: str, length: int, degrees: dict, seed: int = 0) -> torch.Tensor:
    """The (L, L) mask of a kind the masks package builds from positions alone, on an input of L
    one-token words without special tokens: the same builders, registry and forced links (here the
    diagonal) as every experiment's masks."""
    from .kinds import get_kind
    from .masks import MaskInputs, MaskOptions, build_mask

    if get_kind(kind).needs:
        raise ValueError(f"timing pattern {kind!r} needs {', '.join(sorted(get_kind(kind).needs))}: only "
                         f"position-defined kinds can be timed on synthetic lengths")
    inputs = MaskInputs(word_ids=np.arange(length))
    return torch.from_numpy(build_mask(inputs, kind, degrees, MaskOptions(special_tokens="like_words"), seed))


def band_mask(length: int, window: int) -> torch.Tensor:
    """The (L, L) neighbour mask |i - j| <= window."""
    return positional_mask("neighbour", length, {"w": window})


def _window_for_density(length: int, density: float) -> int:
    # pairs with |i - j| <= w: L(2w + 1) - w(w + 1) = density L^2
    return int(round(((2 * length - 1) - math.sqrt((2 * length - 1) ** 2 - 4 * (density * length**2 - length))) / 2))


def synthetic_mask(kind: str, length: int, sparsity: float, seed: int = 0) -> torch.Tensor:
    """An (L, L) mask of a position-defined pattern at (about) the target sparsity, from the masks
    package's builders: neighbour w and random k (partners per row besides the diagonal) from the
    density; BigBird with one global token and the rest split between its window and its random
    links; dense."""
    density = 1 - sparsity
    degrees = {
        "dense": {},
        "neighbour": {"w": _window_for_density(length, density)},
        "random": {"k": max(0, int(round(density * length)) - 1)},
        "bigbird": {"g": 1, "w": _window_for_density(length, density / 2),
                    "r": max(0, int(round((density / 2 - 2 / length) * length)) - 1)},
    }
    if kind not in degrees:
        raise ValueError(f"timing pattern {kind!r}; allowed: {', '.join(degrees)}")
    return positional_mask(kind, length, degrees[kind], seed)


def neighbour_window(mask: torch.Tensor) -> int:
    """w of a neighbour mask |i - j| <= w (the number of keys right of the first query)."""
    return int(mask[0].sum()) - 1


def banded_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, window: int,
                     block: int = 128) -> torch.Tensor:
    """Exact attention under the neighbour mask ``|i - j| <= window``, computing only the band.

    Query block ``[s, s + block)`` can only see keys ``[s - window, s + block - 1 + window]``, so
    each block gets that span of ``block + 2 window`` keys through a strided view of the padded
    keys (no copy) and all blocks go to SDPA as one batched call with a ``(blocks, block, span)``
    mask for the band's ragged edges. It is the CPU counterpart of a block-sparse kernel for the
    one pattern whose non-empty blocks form a band, and it has a backward (SDPA's).
    (B, H, L, D) -> (B, H, L, D).
    """
    batch, heads, length, head_dim = query.shape
    blocks = -(-length // block)
    padded_length = blocks * block
    span = block + 2 * window

    def spans(x):
        # window zero keys before the sequence and window after the last block: every span fits
        padded = torch.nn.functional.pad(x, (0, 0, window, padded_length - length + window))
        flat = padded.reshape(batch * heads, -1, head_dim)
        return flat.as_strided((batch * heads, blocks, span, head_dim),
                               (flat.stride(0), block * head_dim, head_dim, 1))

    query_position = torch.arange(padded_length, device=query.device).view(blocks, block, 1)
    key_position = (torch.arange(blocks, device=query.device) * block - window).view(blocks, 1, 1) + torch.arange(span, device=query.device)
    allowed = ((query_position - key_position).abs() <= window) & (key_position >= 0) & (key_position < length)
    allowed |= query_position >= length  # padding rows: never all-masked (NaN); dropped below
    queries = torch.nn.functional.pad(query, (0, 0, 0, padded_length - length)).reshape(batch * heads, blocks, block, head_dim)
    out = torch.nn.functional.scaled_dot_product_attention(queries, spans(key), spans(value), attn_mask=allowed[None])
    return out.reshape(batch, heads, padded_length, head_dim)[:, :, :length]


def _best_of(function, repeats: int) -> float:
    function()  # warm-up (and compilation)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def time_block_sparse_vs_dense(mask: torch.Tensor, heads: int = 12, head_dim: int = 64, block: int = 128,
                               repeats: int = 3, backward: bool = False, device: str = "cpu",
                               kernel: str = "flex", dtype: torch.dtype = torch.float32) -> dict:
    """Seconds of dense SDPA and of a block-sparse kernel on the same inputs, forward (and backward).

    kernel "flex": FlexAttention with the mask's block mask (no backward on CPU in torch 2.13).
    kernel "band": ``banded_attention`` (neighbour masks only; has a backward everywhere).
    """
    length = mask.shape[0]
    q, k, v = (torch.randn(1, heads, length, head_dim, device=device, dtype=dtype, requires_grad=backward)
               for _ in range(3))
    if kernel == "flex":
        from torch.nn.attention.flex_attention import flex_attention

        from .attention import pad_length, to_block_mask

        # whole blocks only, as in the flex backend (a partial block is wrong on some CPUs)
        block_mask = to_block_mask(mask.to(device)[None, None], block_size=block)
        padded = block_mask.seq_lengths[0]
        flex_q, flex_k, flex_v = (pad_length(x.detach(), padded).requires_grad_(backward) for x in (q, k, v))
        flex = torch.compile(flex_attention, dynamic=False)

        def sparse_attention():
            return flex(flex_q, flex_k, flex_v, block_mask=block_mask)[..., :length, :]
    elif kernel == "band":
        window = neighbour_window(mask)
        if not torch.equal(mask, band_mask(length, window)):
            raise ValueError("the band kernel computes neighbour masks |i - j| <= w only")

        def sparse_attention():
            return banded_attention(q, k, v, window, block=block)
    else:
        raise ValueError(f"kernel {kernel!r}; allowed: flex, band")

    def synchronize():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def dense():
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        if backward:
            out.sum().backward()
        synchronize()

    def sparse():
        out = sparse_attention()
        if backward:
            out.sum().backward()
        synchronize()

    dense_seconds = _best_of(dense, repeats)
    sparse_seconds = _best_of(sparse, repeats)
    return {
        "kernel": kernel,
        "length": length,
        "sparsity": 1 - float(mask.float().mean()),
        "block": block,
        "blocks_non_empty_fraction": block_counts(mask.cpu().numpy(), block)["non_empty"] / math.ceil(length / block) ** 2,
        "dense_seconds": dense_seconds,
        "block_sparse_seconds": sparse_seconds,
        "speedup": dense_seconds / sparse_seconds,
        "pass": "forward+backward" if backward else "forward",
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
    }


def kernel_timing_rows(patterns, lengths, sparsity: float, block: int, repeats: int, device: str) -> list[dict]:
    """Dense SDPA against the block-sparse kernels for each pattern and length: FlexAttention for
    every pattern (forward; forward+backward off CPU, where it has a backward), and the band kernel
    for the neighbour pattern (forward and forward+backward everywhere)."""
    rows = []
    for length in lengths:
        for pattern in patterns:
            mask = synthetic_mask(pattern, length, sparsity)
            runs = [("flex", False)] + ([] if device.startswith("cpu") else [("flex", True)])
            if pattern == "neighbour":
                runs += [("band", False), ("band", True)]
            for kernel, backward in runs:
                row = time_block_sparse_vs_dense(mask, block=block, repeats=repeats, backward=backward,
                                                 device=device, kernel=kernel)
                rows.append({"pattern": pattern, **row})
    return rows
