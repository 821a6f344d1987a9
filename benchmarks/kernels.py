"""Attention kernels: block-sparse FlexAttention and the band kernel against dense SDPA at a long
length."""

from .common import report


def bench_block_sparse():
    """Block-sparse neighbour attention at 78% sparsity, L=4096, 12 heads of 64, vs dense SDPA, one
    attention call, best of 5 each. Kernels: FlexAttention with the block mask at block sizes 128
    (its default) and 512, forward only on CPU (no flex backward there); and the band kernel
    (cost.banded_attention: each 128-query block's key span through SDPA), forward and backward."""
    import torch

    from breaking_bert.cost import synthetic_mask, time_block_sparse_vs_dense

    device = "cuda" if torch.cuda.is_available() else "cpu"
    mask = synthetic_mask("neighbour", 4096, 0.78)
    runs = [("flex", 128, False), ("flex", 512, False), ("band", 128, False), ("band", 128, True)]
    if device == "cuda":
        runs += [("flex", 128, True), ("flex", 512, True)]
    # on a GPU also in bf16, the precision training uses there (fp32 SDPA and flex take slower paths)
    for dtype in (torch.float32,) if device == "cpu" else (torch.float32, torch.bfloat16):
        for kernel, block, backward in runs:
            row = time_block_sparse_vs_dense(mask, block=block, repeats=5, backward=backward, device=device,
                                             kernel=kernel, dtype=dtype)
            report("block_sparse_neighbour_vs_dense_sdpa", **row, ratio=row["speedup"], goal=">= 3 (ideal ~4.5)")
