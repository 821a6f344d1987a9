"""The generated findings report: does this run support each of the paper's four findings?

Each check reads the per-seed runs table (``results/<config>/tables/runs.csv``; learned runs from
``learned_runs.csv``) and judges every comparison with the one decision rule of ``stats/decision.py``: a
95% t interval of the score difference, paired by seed, and three outcomes per cell, supported /
not supported / cannot tell. A finding over several cells is supported when every cell supports
it; otherwise each cell's definitive verdict must survive Holm's correction over the finding's
cells, and the finding is not supported (or partly, when others support it) when a cell refutes
it, else cannot tell; ``not tested`` when the cells it needs were not run. The thresholds are config values
(``findings`` in config/schema.yaml; their defaults are ``cells``' constants):

- ``negligible_drop``: a drop vs dense whose whole interval is smaller than this "costs little";
- ``high_sparsity``: cells at or above this achieved sparsity are "highly sparse";
- ``sparsity_tolerance``: two patterns compared (findings 2 and 3) whose achieved sparsities
  differ by more than this are not comparable when the sparser one loses.
"""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "..stats.decision": ("CANNOT_TELL", "NOT_SUPPORTED", "PARTLY", "SUPPORTED",),
    "cells": ("NOT_TESTED", "PAPER_KINDS", "Verdict",),
    "fixed": ("late_vs_all_layers", "least_damaging_patterns", "removing_neighbour_hurts_most",),
    "learned": (
        "frontier_at", "irregular_beats_regular", "learned_beats_bigbird", "learned_degree_placement",
        "learning_beats_its_frozen_control",
    ),
    "report": (
        "all_verdicts", "dense_stability", "design_verdicts", "judge_with", "render_report", "retained_mass_section", "retained_mass_vs_damage",
    ),
})
