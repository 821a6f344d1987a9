"""What a reader sees: the figures of the finetune grid, the learned windows and the masks
(``figures``: matplotlib, each saved as PNG and PDF) and the findings report as a standalone HTML
page (``html``). The tables they draw from are read and written on the ground floor (``tables``);
the cost stage's figures are its own (``cost.figures``). The package loads a room only when one of
its names is used (``breaking_bert.lazy``).
"""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "figures": ("plot_layer_sweep", "plot_learned_degrees", "plot_mask_gallery", "plot_score_by_pattern_and_placement",
                "plot_score_vs_sparsity", "pick_example", "seeds_label", "vector_copy"),
    "html": ("html_page",),
})
