"""How much of a cell's spread over seeds is the sampling of its eval set (issue 27): per sparse
cell, the spread over seeds of its paired difference from dense beside the spread that resampling
the eval examples gives within one seed (a paired bootstrap: the same resampled examples for the
cell's run and the dense run of that seed).

The eval set is fixed across seeds. Its sampling error has two parts: the part that differs
between the seeds' models (each model's own errors meet the set's luck differently) shows in the
spread over seeds; the part they share (the set's luck with errors the models have in common) does
not, and the t interval over seeds, which treats the eval set as fixed, leaves it out: its claims
are about this eval set. The bootstrap measures both parts for one run. A share near or above 1
says the eval set's sampling error is as large as the spread over seeds: more eval examples narrow
the intervals and make them about the task rather than the set, for the price of evaluation only
(cheap next to training); a small share says only more seeds will. Bootstrap variance shrinks as
1 / eval examples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .scoring import classification_metrics
from .vocabulary import BASELINE_KIND

BOOTSTRAP_DRAWS = 1000
COLUMNS = ["task", "pattern", "kind", "placement", "metric", "eval examples", "seeds", "seed sd", "eval sampling sd",
           "eval sampling share"]


def paired_bootstrap_variance(predicted: np.ndarray, baseline: np.ndarray, labels: np.ndarray, metric: str,
                              draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> float:
    """Variance of metric(predicted) - metric(baseline) over eval sets drawn with replacement from
    this one (the same draw for both); ``baseline`` None: of metric(predicted) alone."""
    labels = np.asarray(labels)
    draw = np.random.default_rng(seed).integers(0, len(labels), (draws, len(labels)))
    if metric == "accuracy":  # the mean of per-example correctness: vectorised
        per_example = (np.asarray(predicted) == labels).astype(float)
        if baseline is not None:
            per_example -= np.asarray(baseline) == labels
        return float(per_example[draw].mean(axis=1).var(ddof=1))
    num_labels = int(max(labels.max(), np.max(predicted), 0 if baseline is None else np.max(baseline))) + 1

    def score(values, rows):
        return classification_metrics(np.asarray(values)[rows], labels[rows], num_labels)[metric]

    differences = [score(predicted, rows) - (score(baseline, rows) if baseline is not None else 0.0) for rows in draw]
    return float(np.var(differences, ddof=1))


def _load(metrics_paths) -> pd.DataFrame:
    """The runs that kept their predictions (runs from before predictions were kept are left out)."""
    from .aggregate import _load as load_columns

    runs = load_columns(metrics_paths, ["task", "pattern", "kind", "placement", "seed", "metric", "score",
                                        "eval_predictions", "eval_labels"])
    return runs[runs["eval_predictions"].notna()].reset_index(drop=True)


def eval_sampling_table(metrics_paths, draws: int = BOOTSTRAP_DRAWS) -> pd.DataFrame:
    """One row per sparse cell paired with its task's dense runs (and one per dense baseline, its
    score alone): seeds, the sample SD over seeds, the within-seed bootstrap SD (root mean
    variance over seeds) and their variance ratio."""
    runs = _load(metrics_paths)
    rows = []
    if runs.empty:
        return pd.DataFrame(columns=COLUMNS)
    for (task, pattern, placement), cell in runs.groupby(["task", "pattern", "placement"], sort=True):
        dense = runs[(runs["task"] == task) & (runs["kind"] == BASELINE_KIND)].set_index("seed")
        is_dense = cell["kind"].iloc[0] == BASELINE_KIND
        values, variances = [], []
        for run in cell.itertuples():
            if not is_dense and run.seed not in dense.index:
                continue
            baseline = None if is_dense else dense.loc[run.seed]
            values.append(run.score - (0.0 if is_dense else baseline["score"]))
            variances.append(paired_bootstrap_variance(
                np.asarray(run.eval_predictions), None if is_dense else np.asarray(baseline["eval_predictions"]),
                np.asarray(run.eval_labels), run.metric, draws, seed=int(run.seed)))
        if not values:
            continue
        seed_variance = float(np.var(values, ddof=1)) if len(values) > 1 else float("nan")
        eval_variance = float(np.mean(variances))
        rows.append({"task": task, "pattern": pattern, "kind": cell["kind"].iloc[0], "placement": placement,
                     "metric": cell["metric"].iloc[0],
                     "eval examples": len(cell["eval_labels"].iloc[0]), "seeds": len(values),
                     "seed sd": seed_variance ** 0.5, "eval sampling sd": eval_variance ** 0.5,
                     "eval sampling share": eval_variance / seed_variance if seed_variance > 0 else float("nan")})
    return pd.DataFrame(rows, columns=COLUMNS)


def eval_sampling_section(table: pd.DataFrame) -> str:
    """The report's section: the table, and the median share in words."""
    from .aggregate import to_markdown

    lines = ["## Beyond the paper: how much of the spread over seeds is eval sampling", ""]
    sparse = table[table["kind"] != BASELINE_KIND].dropna(subset=["eval sampling share"]) if len(table) else table
    if sparse.empty:
        return "\n".join(lines + ["No sparse cell has two seeds with kept predictions.", ""])
    median = float(sparse["eval sampling share"].median())
    lines += [
        f"Per sparse cell, its difference from dense: the sample SD over seeds, and the SD that resampling the "
        f"eval examples gives within a seed (paired bootstrap, {BOOTSTRAP_DRAWS} draws, root mean variance over "
        f"seeds). Median share of the seed variance: {median:.2f} over {len(sparse)} cells. The seed-based "
        "intervals leave out the part of the eval set's sampling error that all seeds share, so they are about this "
        "eval set; a share near or above 1 says a larger eval set would narrow them and make them about the task "
        "(the bootstrap variance shrinks as 1 / eval examples); a small share says only more seeds will.",
        "",
        to_markdown(table, float_format="{:.4f}"),
    ]
    return "\n".join(lines)
