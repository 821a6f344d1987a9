"""Aggregate run directories into one tidy table and per-cell summaries (mean, spread, delta vs dense).

Reads only each run's ``metrics.json`` (which carries its task, pattern, placement and seed) and
each mask set's ``summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .stats.differences import standard_error_of_difference
from .tables import read_metrics, to_markdown
from .vocabulary import BASELINE_KIND, DEGREE_COLUMNS, degree_columns, early_layers, format_degrees

RUN_COLUMNS = [
    "task",
    "pattern",
    "kind",
    "placement",
    "degrees",  # as text, 'g=1 w=3 r=0', for people and as a grouping key; typed: the degree_* columns
    *DEGREE_COLUMNS,
    "seed",
    "metric",
    "score",
    "eval_accuracy",
    "eval_f1",
    "eval_matthews",
    "sparsity_mean",
    "sparsity_std",
    "effective_sparsity_mean",  # masks/effective.py: the connections that reach the classifier
    "degree_mean",
    "train_samples_per_second",
    "peak_memory_mb",
    "device",
]


def load_runs(metrics_paths) -> pd.DataFrame:
    runs = read_metrics(metrics_paths, RUN_COLUMNS, lambda metrics: {
        "degrees": format_degrees(metrics.get("mask_degrees")), **degree_columns(metrics.get("mask_degrees"))})
    return runs.astype(dict.fromkeys(DEGREE_COLUMNS, "Int64"))


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, pattern, placement): seeds, mean and sample std of the score, delta vs dense.

    The dense baseline of a task is its ``dense`` kind run(s); ``delta`` is the cell mean minus the
    dense mean, and ``delta_se`` its standard error, sqrt(s1^2/n1 + s2^2/n2) (unpaired; the findings
    pair by seed, decision.py).
    """
    if runs.empty:
        return pd.DataFrame()
    if "degrees" not in runs:
        runs = runs.assign(degrees="")
    if "effective_sparsity_mean" not in runs:  # tables from before effective sparsity was recorded
        runs = runs.assign(effective_sparsity_mean=np.nan)
    runs = runs.astype({"effective_sparsity_mean": float})
    grouped = runs.groupby(["task", "pattern", "kind", "placement", "degrees"], sort=True, dropna=False)
    # three aggregations over the groups, not one per column: the findings summarize every table
    # they judge, thousands of times in a calibration
    firsts = grouped[[column for column in DEGREE_COLUMNS if column in runs] + ["metric"]].first()
    means = grouped[["score", "sparsity_mean", "effective_sparsity_mean", "train_samples_per_second"]].mean()
    summary = pd.concat([firsts, grouped["seed"].nunique().rename("seeds"), means["score"].rename("score_mean"),
                         # one seed: no spread (NaN, shown as '-', drawn with no error bar), not a spread of 0
                         grouped["score"].std().rename("score_std"),
                         means[["sparsity_mean", "effective_sparsity_mean"]],
                         means["train_samples_per_second"].rename("samples_per_second")], axis=1)
    summary = summary[[*firsts.columns[:-1], "seeds", "metric", "score_mean", "score_std", "sparsity_mean",
                       "effective_sparsity_mean", "samples_per_second"]].reset_index()
    dense = summary[summary["kind"] == BASELINE_KIND].set_index("task")
    base_mean = summary["task"].map(dense["score_mean"]) if not dense.empty else np.nan
    base_std = summary["task"].map(dense["score_std"]) if not dense.empty else np.nan
    base_n = summary["task"].map(dense["seeds"]) if not dense.empty else np.nan
    summary["delta_vs_dense"] = summary["score_mean"] - base_mean
    summary["delta_se"] = standard_error_of_difference(summary["score_std"], summary["seeds"], base_std, base_n)
    return summary


def sparsity_table(mask_summary_paths) -> pd.DataFrame:
    """Achieved sparsity per (task, pattern, draw, split) from the masks stage's summary.json files
    (draw: ``fixed``, or ``seed<k>`` for a random pattern's draw of run seed k)."""
    rows = []
    for path in mask_summary_paths:
        summary = json.loads(Path(path).read_text())
        for split in ("train", "eval"):
            key = {"task": summary["task"], "pattern": summary["pattern"], "draw": summary["draw"], "split": split}
            rows.append({**key, **summary[split]})
    return pd.DataFrame(rows)


LEARNED_COLUMNS = [
    "task",
    "variant",
    "setting",
    "seed",
    "metric",
    "score",
    "sparsity_mean",
    "sparsity_std",
    "effective_sparsity_mean",
    "budget_sparsity",
    "train_samples_per_second",
]
RUN_KEY = ["task", "variant", "setting", "seed"]
WINDOW_COLUMNS = [*RUN_KEY, "layer", "head", "position_class", "window"]


def load_learned_runs(metrics_paths) -> pd.DataFrame:
    """One row per experiment-3 run (its windows: load_learned_windows)."""
    return read_metrics(metrics_paths, LEARNED_COLUMNS)


def load_learned_windows(metrics_paths) -> pd.DataFrame:
    """The hardened window of every run, layer, head and position class, one typed row each."""
    rows = []
    for path in metrics_paths:
        metrics = json.loads(Path(path).read_text())
        key = [metrics[column] for column in RUN_KEY]
        for layer, heads in enumerate(metrics["learned_windows"]):
            for head, classes in enumerate(heads):
                rows += [(*key, layer, head, position_class, float(window)) for position_class, window in enumerate(classes)]
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)


def summarize_learned(runs: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """Per task x variant x setting: seeds, mean and sample std of score and hardened sparsity, its
    effective sparsity, and the mean window of the early and late halves of the layers (where the
    connections went). The last layer is in neither half: its windows change no logit
    (masks/effective.py), so where they sit says nothing about what the model needs."""
    if runs.empty:
        return pd.DataFrame()
    if "effective_sparsity_mean" not in runs:
        runs = runs.assign(effective_sparsity_mean=np.nan)
    runs = runs.astype({"effective_sparsity_mean": float})
    num_layers = windows.groupby(RUN_KEY)["layer"].transform("max") + 1
    early = [layer in early_layers(depth) for layer, depth in zip(windows["layer"], num_layers)]
    half = np.where(early, "early_window", "late_window")
    halves = windows.assign(half=half)[windows["layer"] < num_layers - 1]
    halves = halves.pivot_table(index=RUN_KEY, columns="half", values="window", aggfunc="mean").reset_index()
    # a 2-layer model has no late half without its last layer, a 1-layer one neither half: no value
    halves = halves.reindex(columns=[*RUN_KEY, "early_window", "late_window"])
    runs = runs.merge(halves, on=RUN_KEY, how="left", validate="one_to_one")
    grouped = runs.groupby(["task", "variant", "setting"], sort=True)
    return grouped.agg(
        seeds=("seed", "nunique"),
        metric=("metric", "first"),
        score_mean=("score", "mean"),
        score_std=("score", "std"),
        sparsity_mean=("sparsity_mean", "mean"),
        sparsity_spread=("sparsity_mean", lambda s: float(s.std(ddof=1)) if len(s) > 1 else 0.0),
        effective_sparsity_mean=("effective_sparsity_mean", "mean"),
        early_window=("early_window", "mean"),
        late_window=("late_window", "mean"),
    ).reset_index()


def load_costs(paths) -> pd.DataFrame:
    """One row per task x pattern from the cost stage's cost.json files."""
    return pd.DataFrame([json.loads(Path(path).read_text()) for path in paths])


def load_retained_mass(paths) -> pd.DataFrame:
    """Every task x pattern's retained mass per layer and head, concatenated."""
    frames = [pd.read_csv(path) for path in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_table(frame: pd.DataFrame, csv_path, markdown_path=None, html_path=None, title: str = "") -> None:
    """A table as CSV (for code) and, when asked, as Markdown and as an HTML page (for people: the
    HTML is what Snakemake's report shows inline), without the typed degree columns, which repeat
    the degrees' text."""
    frame.to_csv(csv_path, index=False)
    text = to_markdown(frame.drop(columns=list(DEGREE_COLUMNS), errors="ignore"))
    if markdown_path is not None:
        Path(markdown_path).write_text(text)
    if html_path is not None:
        from .report.html import html_page

        Path(html_path).write_text(html_page(f"# {title}\n\n{text}" if title else text, title))


def read_runs_table(csv_path) -> pd.DataFrame:
    """A runs table as write_table wrote it, as the findings read it: an empty cell is missing
    (NaN), and a text such as 'none' (placement) or 'NA' stays text."""
    return pd.read_csv(csv_path, keep_default_na=False, na_values=[""])
