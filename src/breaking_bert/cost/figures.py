"""The cost stage's figures: how much dense attention mass each pattern keeps per layer, and what a
masked attention call costs against dense (drawn like every figure: figures._save)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ..report.figures import _save


def plot_retained_mass(retained: pd.DataFrame, path) -> None:
    """Per task: retained dense attention mass per layer (mean over heads), one line per pattern,
    with the lowest to the highest head as a band (the legend says so); a tick per layer."""
    tasks = sorted(retained["task"].unique()) if not retained.empty else [""]
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(6, 5 * len(tasks)), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = retained[retained["task"] == task]
        for pattern, cells in rows.groupby("pattern"):
            per_layer = cells.groupby("layer")["retained_mass"]
            mean, low, high = per_layer.mean(), per_layer.min(), per_layer.max()
            line, = ax.plot(mean.index, mean.values, marker="o", label=f"{pattern} (mean over heads)")
            ax.fill_between(mean.index, low.values, high.values, alpha=0.12, color=line.get_color())
        if len(rows):  # what the bands are, once
            ax.fill_between([], [], [], color="grey", alpha=0.12, label="band: lowest to highest head")
        ax.set_ylim(0, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("layer (0 = first)")
        ax.set_ylabel("retained dense attention mass")
        ax.set_title(task)
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def plot_kernel_timing(timing: pd.DataFrame, path) -> None:
    """Seconds against sequence length (log-log): dense SDPA and block-sparse per pattern and
    kernel (FlexAttention solid, the neighbour band kernel dashed), one panel per pass (forward;
    forward+backward where measured)."""
    passes = sorted(timing["pass"].unique())
    fig, axes = plt.subplots(1, len(passes), figsize=(6 * len(passes), 4.2), squeeze=False)
    for ax, name in zip(axes[0], passes):
        rows = timing[timing["pass"] == name]
        dense = rows.groupby("length")["dense_seconds"].min()
        ax.plot(dense.index, dense.values, "k-o", label="dense SDPA")
        for (pattern, kernel), cells in rows.groupby(["pattern", "kernel"]):
            cells = cells.sort_values("length")
            label = f"{pattern} (sparsity {cells['sparsity'].mean():.2f})"
            style = "s-" if kernel == "flex" else "^--"
            ax.plot(cells["length"], cells["block_sparse_seconds"], style,
                    label=label if kernel == "flex" else f"{label}, band kernel")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length")
        ax.set_ylabel("seconds per call")
        ax.set_title(f"{name}, {rows['device'].iloc[0]}, block {rows['block'].iloc[0]}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
