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

Kernel timing on synthetic lengths is ``cost.timing``'s; the stage's figures ``cost.figures``.
"""

from __future__ import annotations

import math

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
