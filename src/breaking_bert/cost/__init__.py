"""The cost stage, beyond the paper: what a pattern costs and what it keeps. ``counts``: FLOPs,
the kernel blocks a mask leaves non-empty, and the share of the pretrained model's dense attention
mass it retains (the cost rule); ``timing``: block-sparse kernels against dense SDPA at synthetic
lengths (the kernel_timing rule); ``figures``: the stage's two figures. The package loads a room
when one of its names is used (``breaking_bert.lazy``): the figures do not import torch.
"""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "counts": ("attention_flops", "block_counts", "cost_summary", "dense_attention_probabilities", "mask_cost",
               "retained_mass", "retained_mass_frame", "retained_mass_per_row", "retained_mass_table",),
    "timing": ("band_mask", "banded_attention", "kernel_timing_rows", "neighbour_window", "positional_mask",
               "synthetic_degrees", "synthetic_mask", "synthetic_masks", "time_block_sparse_vs_dense",),
    "figures": ("plot_kernel_timing", "plot_retained_mass",),
})
