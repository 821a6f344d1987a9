"""How much the sampling of the eval set adds to a cell's uncertainty (issue 37): per cell, its
difference from dense (dense: its own score) with two standard errors of the mean over seeds,

- from seeds: the spread of the per-seed differences over seeds, sd / sqrt(seeds): it holds the
  eval set fixed;
- from the eval set: what drawing another eval set of the same size from the task would add. The
  findings' intervals include it wherever both cells' runs kept their predictions
  (differences.py), so that their verdicts are about the task, not this eval set.

The second comes from a crossed model of per-example values y[seed, example] (the difference of the
two runs' per-example jackknife values, which for accuracy are the examples' correctness): y = mu +
seed + example + residual. The variance of the mean over both is var(seed) / S + var(example) / I +
var(residual) / (S I); the mean over seeds of the per-seed differences, which the seed interval
uses, estimates var(seed) / S + var(residual) / (S I), so the eval set adds var(example) / I,
estimated by (MS_example - MS_residual) / (S I) (zero when negative; the two-way ANOVA mean
squares). It shrinks as 1 / eval examples; more seeds do not shrink it. With one seed it cannot be
told apart from the residual, and the table says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .differences import COLLAPSED, EVAL_VALUES, crossed_variances
from ..scoring import metrics_from_confusion
from ..tables import read_metrics, to_markdown
from ..vocabulary import BASELINE_KIND, RUN_GROUP_COLUMNS, runs_table_kind

COLUMNS = ["task", "pattern", "kind", "placement", "metric", "compared", "eval examples", "seeds", "se from seeds",
           "se from eval set", "se of both", "eval set share"]


def influence_values(predicted: np.ndarray, labels: np.ndarray, metric: str, num_labels: int) -> np.ndarray:
    """(I,) per-example jackknife pseudo-values of ``metric``: I theta - (I - 1) theta without that
    example; their mean is about the metric, and their spread is its sampling variance times I.
    For accuracy they are the examples' correctness. Leaving one example out changes one cell of
    the confusion matrix, so theta without it depends on its (label, prediction) alone."""
    predicted, labels = np.asarray(predicted, dtype=int), np.asarray(labels, dtype=int)
    if metric == "accuracy":
        return (predicted == labels).astype(float)
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    size, whole = len(labels), metrics_from_confusion(confusion)[metric]
    without = np.full((num_labels, num_labels), np.nan)
    for label, prediction in zip(*np.nonzero(confusion)):
        confusion[label, prediction] -= 1
        without[label, prediction] = metrics_from_confusion(confusion)[metric]
        confusion[label, prediction] += 1
    return size * whole - (size - 1) * without[labels, predicted]


def _num_labels(labels, *predictions) -> int:
    """Classes in a confusion matrix of these labels and predictions (the largest id + 1)."""
    return int(max(np.max(labels), *(np.max(p) for p in predictions))) + 1 if len(labels) else 2


def prediction_columns(kind: str) -> list[str]:
    """What a run's eval predictions are read with: what the run is (RUN_GROUP_COLUMNS[kind] and
    seed), its metric, its predictions and the labels."""
    return [*RUN_GROUP_COLUMNS[kind], "seed", "metric", "eval_predictions", "eval_labels"]


def read_predictions(metrics_paths, kind: str) -> pd.DataFrame:
    """The eval predictions of these runs' metrics.json files (prediction_columns; None: kept none)."""
    return read_metrics(metrics_paths, prediction_columns(kind))


def attach_eval_values(runs: pd.DataFrame | None, metrics_paths) -> pd.DataFrame | None:
    """attach_predictions with the predictions of these metrics.json files."""
    return None if runs is None else attach_predictions(runs, read_predictions(metrics_paths, runs_table_kind(runs)))


def attach_predictions(runs: pd.DataFrame | None, predictions: pd.DataFrame) -> pd.DataFrame | None:
    """The runs table with each run's per-example values (differences.EVAL_VALUES: jackknife
    values of its eval predictions, None for a run that kept none) and whether it collapsed
    (differences.COLLAPSED: one class predicted for every eval example of a task with more; False
    for a run that kept no predictions, which cannot show it), matched by what the run is (task,
    pattern, placement, seed; learned runs: task, variant, setting, seed), so that every
    difference's interval covers the sampling of the eval set too (differences.py).
    ``predictions``: read_predictions' columns, one row per run."""

    if runs is None:
        return None
    key = [*RUN_GROUP_COLUMNS[runs_table_kind(runs)], "seed"]
    values, collapsed = {}, set()
    for run in predictions[predictions["eval_predictions"].notna()].itertuples(index=False):
        labels, predicted = np.asarray(run.eval_labels), np.asarray(run.eval_predictions)
        identity = tuple(str(getattr(run, column)) for column in key)
        values[identity] = influence_values(predicted, labels, run.metric, _num_labels(labels, predicted))
        if len(set(predicted.tolist())) == 1 < len(set(labels.tolist())):
            collapsed.add(identity)
    identities = list(runs[key].astype(str).itertuples(index=False, name=None))
    return runs.assign(**{EVAL_VALUES: [values.get(tuple(row)) for row in identities],
                          COLLAPSED: [tuple(row) in collapsed for row in identities]})


def collapsed_runs(*tables: pd.DataFrame | None) -> list[str]:
    """Lines naming the runs of these runs tables (as attach_eval_values gives them) that predicted
    one class for every eval example (a finetune that collapsed): the intervals assume per-seed
    differences that vary roughly normally; a collapsed run never supports a claim (decision.py)."""
    names = ["/".join(str(getattr(run, c)) for c in RUN_GROUP_COLUMNS[runs_table_kind(table)]) + f"/seed{run.seed}"
             for table in tables if table is not None and COLLAPSED in table
             for run in table[table[COLLAPSED] == True].itertuples()]  # noqa: E712
    if not names:
        return []
    return [f"**Collapsed runs** (one class predicted for every eval example): {', '.join(names)}. The intervals assume "
            "that seeds vary roughly normally, which such a run breaks: it counts where it moves a difference against "
            "a claim, and a claim it would move the difference for is cannot tell, whatever its interval.", ""]



def _load(metrics_paths) -> pd.DataFrame:
    """The runs that kept their predictions (runs from before predictions were kept are left out)."""

    runs = read_metrics(metrics_paths, ["task", "pattern", "kind", "placement", "seed", "metric", "score",
                                        "eval_predictions", "eval_labels"])
    return runs[runs["eval_predictions"].notna()].reset_index(drop=True)


def _cell_row(task, pattern, placement, cell: pd.DataFrame, dense: pd.DataFrame) -> dict | None:
    is_dense = cell["kind"].iloc[0] == BASELINE_KIND
    labels = np.asarray(cell["eval_labels"].iloc[0])
    metric = cell["metric"].iloc[0]
    num_labels = _num_labels(labels, *cell["eval_predictions"])
    per_seed, scores = [], []
    for run in cell.itertuples():
        if not is_dense and run.seed not in dense.index:
            continue
        values = influence_values(run.eval_predictions, labels, metric, num_labels)
        score = run.score
        if not is_dense:
            baseline = dense.loc[run.seed]
            values = values - influence_values(baseline["eval_predictions"], labels, metric, num_labels)
            score -= baseline["score"]
        per_seed.append(values)
        scores.append(score)
    if not per_seed:
        return None
    _, from_eval_set, _ = crossed_variances(np.stack(per_seed))
    from_seeds = float(np.var(scores, ddof=1) / len(scores)) if len(scores) > 1 else float("nan")
    both = from_seeds + from_eval_set
    return {"task": task, "pattern": pattern, "kind": cell["kind"].iloc[0], "placement": placement, "metric": metric,
            "compared": "its score" if is_dense else "minus dense, paired by seed", "eval examples": len(labels),
            "seeds": len(scores), "se from seeds": from_seeds**0.5, "se from eval set": from_eval_set**0.5,
            "se of both": both**0.5, "eval set share": from_eval_set / both if both > 0 else float("nan")}


def eval_sampling_table(metrics_paths) -> pd.DataFrame:
    """One row per sparse cell paired with its task's dense runs by seed, and one per dense
    baseline (its score alone): the standard errors from seeds and from the eval set."""
    runs = _load(metrics_paths)
    if runs.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for (task, pattern, placement), cell in runs.groupby(["task", "pattern", "placement"], sort=True):
        dense = runs[(runs["task"] == task) & (runs["kind"] == BASELINE_KIND)].set_index("seed")
        row = _cell_row(task, pattern, placement, cell, dense)
        if row:
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def eval_sampling_section(table: pd.DataFrame) -> str:
    """The report's section: the table, and what it says in words."""

    lines = ["## Beyond the paper: what the sampling of the eval set adds", ""]
    sparse = table[table["kind"] != BASELINE_KIND].dropna(subset=["eval set share"]) if len(table) else table
    if sparse.empty:
        return "\n".join(lines + ["No sparse cell has two seeds with kept predictions.", ""])
    median = float(sparse["eval set share"].median())
    largest = float(sparse["se from eval set"].max())
    lines += [
        "Per cell, its difference from dense (dense: its own score): the standard error of the mean over seeds (the "
        "eval set held fixed), and the one that drawing another eval set of the same size adds (crossed seeds x "
        "examples variance components on per-example jackknife values; src/breaking_bert/stats/eval_sampling.py). The "
        "findings' intervals include both wherever the runs kept their predictions, so their verdicts are about "
        "the task; an interval marked 'about this eval set only' could not. Over the "
        f"{len(sparse)} sparse cells the eval set's part is a median {median:.0%} of the variance of both, and its "
        f"standard error reaches {largest:.4f}. It shrinks as 1 / eval examples; more seeds do not shrink it.",
        "",
        to_markdown(table, float_format="{:.4f}"),
    ]
    return "\n".join(lines)
