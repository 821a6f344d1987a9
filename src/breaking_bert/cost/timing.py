"""Kernel timing (the kernel_timing rule): block-sparse FlexAttention with a block mask against dense SDPA, at synthetic sequence
lengths, for the patterns that are defined at any length (neighbour, random, BigBird) at a
target sparsity. For the neighbour pattern there is also a band kernel (``banded_attention``):
each query block's key span through one batched SDPA call, which trains on CPU too.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from .counts import block_counts


def _positional_inputs(kind: str, length: int):
    from ..kinds import get_kind
    from ..masks import MaskInputs, MaskOptions

    if get_kind(kind).needs:
        raise ValueError(f"timing pattern {kind!r} needs {', '.join(sorted(get_kind(kind).needs))}: only "
                         f"position-defined kinds can be timed on synthetic lengths")
    return MaskInputs(word_ids=np.arange(length)), MaskOptions(special_tokens="like_words")


def positional_mask(kind: str, length: int, degrees: dict, seed: int = 0) -> torch.Tensor:
    """The (L, L) mask of a kind the masks package builds from positions alone, on an input of L
    one-token words without special tokens: the same builders, registry and forced links (here the
    diagonal) as every experiment's masks."""
    from ..masks import build_mask

    inputs, options = _positional_inputs(kind, length)
    return torch.from_numpy(build_mask(inputs, kind, degrees, options, seed))


def band_mask(length: int, window: int) -> torch.Tensor:
    """The (L, L) neighbour mask |i - j| <= window."""
    return positional_mask("neighbour", length, {"w": window})


def synthetic_degrees(kind: str, length: int, sparsity: float, seed: int = 0) -> dict[str, int]:
    """The degrees of a position-defined kind nearest the target sparsity on L tokens, by the masks
    stage's own search over the real builders (masks.solving.closest_degree), not a formula. BigBird
    keeps one global token and gives half the density to its window (solved as a neighbour pattern),
    the rest to random links. (solving.py is left as it is: an edit would rerun every mask job.)"""
    from ..kinds import get_kind
    from ..masks.solving import closest_degree

    def solve(kind, name, target, fixed=None):
        def sparsity_at(value):
            return 1 - positional_mask(kind, length, {**(fixed or {}), name: value}, seed).float().mean().item()

        return closest_degree(sparsity_at, target, length)

    spec = get_kind(kind)
    _positional_inputs(kind, length)  # refuses kinds that need more than positions
    if kind == "bigbird":
        fixed = {"g": 1, "w": solve("neighbour", "w", 1 - (1 - sparsity) / 2)}
        return {**fixed, "r": solve(kind, "r", sparsity, fixed)}
    if len(spec.degrees) > 1:
        raise ValueError(f"timing pattern {kind!r} has degrees {spec.degrees}: only kinds with one degree, "
                         f"dense and bigbird are timed on synthetic lengths")
    return {name: solve(kind, name, sparsity) for name in spec.degrees}  # dense: {}


def synthetic_mask(kind: str, length: int, sparsity: float, seed: int = 0) -> torch.Tensor:
    """An (L, L) mask of a position-defined pattern at (about) the target sparsity (synthetic_degrees)."""
    return positional_mask(kind, length, synthetic_degrees(kind, length, sparsity, seed), seed)


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


def _sparse_kernel(kernel: str, mask: torch.Tensor, q, k, v, block: int, backward: bool, device: str):
    """The block-sparse attention call to time on these inputs: FlexAttention with the mask's block
    mask, or ``banded_attention`` (neighbour masks only)."""
    length = mask.shape[0]
    if kernel == "flex":
        from torch.nn.attention.flex_attention import flex_attention

        from ..attention import pad_length, to_block_mask

        # whole blocks only, as in the flex backend (a partial block is wrong on some CPUs)
        block_mask = to_block_mask(mask.to(device)[None, None], block_size=block)
        padded = block_mask.seq_lengths[0]
        flex_q, flex_k, flex_v = (pad_length(x.detach(), padded).requires_grad_(backward) for x in (q, k, v))
        flex = torch.compile(flex_attention, dynamic=False)
        return lambda: flex(flex_q, flex_k, flex_v, block_mask=block_mask)[..., :length, :]
    if kernel == "band":
        window = neighbour_window(mask)
        if not torch.equal(mask, band_mask(length, window)):
            raise ValueError("the band kernel computes neighbour masks |i - j| <= w only")
        return lambda: banded_attention(q, k, v, window, block=block)
    raise ValueError(f"kernel {kernel!r}; allowed: flex, band")


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
    sparse_attention = _sparse_kernel(kernel, mask, q, k, v, block, backward, device)

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


def synthetic_masks(patterns, lengths, sparsity: float) -> dict[tuple[int, str], torch.Tensor]:
    """(length, pattern) -> its synthetic mask. Built before the device is claimed: solving the
    degrees of random and BigBird at L=4096 takes ~1 min each on a CPU core."""
    return {(length, pattern): synthetic_mask(pattern, length, sparsity) for length in lengths for pattern in patterns}


def kernel_timing_rows(masks: dict[tuple[int, str], torch.Tensor], block: int, repeats: int, device: str) -> list[dict]:
    """Dense SDPA against the block-sparse kernels for each pattern and length: FlexAttention for
    every pattern (forward; forward+backward off CPU, where it has a backward), and the band kernel
    for the neighbour pattern (forward and forward+backward everywhere)."""
    from ..attention import compile_cache_for_this_cpu

    compile_cache_for_this_cpu()
    rows = []
    for (_, pattern), mask in masks.items():
        runs = [("flex", False)] + ([] if device.startswith("cpu") else [("flex", True)])
        if pattern == "neighbour":
            runs += [("band", False), ("band", True)]
        for kernel, backward in runs:
            row = time_block_sparse_vs_dense(mask, block=block, repeats=repeats, backward=backward,
                                             device=device, kernel=kernel)
            rows.append({"pattern": pattern, **row})
    return rows
