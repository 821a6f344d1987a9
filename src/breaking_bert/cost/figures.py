"""The cost stage's figures: how much dense attention mass each pattern keeps per layer, and what a
masked attention call costs against dense (drawn like every figure: figures._save)."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ..report.figures import _save


GRID_POINT = re.compile(r"^(?P<grid>.+?)(?:_[a-z]+\d+)+$")  # vocabulary.grid_point_name's names: bigbird_g1_w3_r0
GRID_AS_BAND = 3  # a grid of this many points or more is drawn as one band, not a line each


def grid_families(patterns) -> dict[str, list[str]]:
    """Grid name -> its points, for the grids of GRID_AS_BAND points or more among ``patterns``."""
    families = {}
    for pattern in patterns:
        match = GRID_POINT.match(pattern)
        if match:
            families.setdefault(match["grid"], []).append(pattern)
    return {grid: points for grid, points in families.items() if len(points) >= GRID_AS_BAND}


def plot_retained_mass(retained: pd.DataFrame, path) -> None:
    """Per task: retained dense attention mass per layer (mean over heads), one line per pattern,
    with the lowest to the highest head as a band (the legend says so); a degree grid's points
    (BigBird's 27) as one band from its lowest to its highest point with its median, so that a
    GPU-box config's 33 patterns stay readable; the legend beside the panel; a tick per layer."""
    tasks = sorted(retained["task"].unique()) if not retained.empty else [""]
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(8, 8 * len(tasks)), 4.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = retained[retained["task"] == task]
        families = grid_families(sorted(rows["pattern"].unique()))
        in_grid = {point for points in families.values() for point in points}
        for pattern, cells in rows[~rows["pattern"].isin(in_grid)].groupby("pattern"):
            per_layer = cells.groupby("layer")["retained_mass"]
            mean, low, high = per_layer.mean(), per_layer.min(), per_layer.max()
            line, = ax.plot(mean.index, mean.values, marker="o", label=f"{pattern} (mean over heads)")
            ax.fill_between(mean.index, low.values, high.values, alpha=0.12, color=line.get_color())
        for grid, points in families.items():
            per_point = rows[rows["pattern"].isin(points)].groupby(["pattern", "layer"])["retained_mass"].mean()
            per_layer = per_point.groupby(level="layer")
            middle, low, high = per_layer.median(), per_layer.min(), per_layer.max()
            line, = ax.plot(middle.index, middle.values, "k--", label=f"{grid} grid, {len(points)} points: median")
            ax.fill_between(middle.index, low.values, high.values, alpha=0.15, color="black",
                            label=f"{grid} grid: lowest to highest point (mean over heads)")
        if len(rows) and len(in_grid) < rows["pattern"].nunique():  # what the bands are, once
            ax.fill_between([], [], [], color="grey", alpha=0.12, label="band: lowest to highest head")
        ax.set_ylim(0, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("layer (0 = first)")
        ax.set_ylabel("retained dense attention mass")
        ax.set_title(task)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    _save(fig, path, bbox_inches="tight")


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
