"""What every finding shares: its verdict record and the selection of a table's cells by seed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..stats.decision import CANNOT_TELL, NOT_SUPPORTED, SUPPORTED, Outcome, judge_cells
from ..stats.differences import COLLAPSED, EVAL_VALUES, MIN_DEFINITIVE_SEEDS
from ..vocabulary import RUN_GROUP_COLUMNS, runs_table_kind

PAPER_KINDS = ("syntax", "lexical", "neighbour", "random")
NOT_TESTED = "not tested"
# the findings' thresholds when a caller gives none; the config's defaults (config/schema.yaml,
# findings.*) are these, which tests/test_config.py checks. The negligible drop is in each metric's
# own units: Matthews' correlation spans [-1, 1], and on a balanced binary task it moves about twice
# as far as accuracy for the same change in errors (MCC ~ 2 accuracy - 1), so its margin is twice
# accuracy's; F1 moves about as accuracy does.
NEGLIGIBLE_DROP = {"accuracy": 0.01, "f1": 0.01, "matthews": 0.02}
HIGH_SPARSITY, SPARSITY_TOLERANCE = 0.75, 0.01


def margin(negligible_drop: float | dict, metric: str) -> float:
    """The negligible drop in ``metric``'s units: one number for every metric, or one per metric
    (findings.negligible_drop)."""
    if isinstance(negligible_drop, dict):
        if metric not in negligible_drop:
            raise ValueError(f"findings.negligible_drop gives no margin for the metric {metric!r} "
                             f"(it gives {sorted(negligible_drop)}); add one")
        return float(negligible_drop[metric])
    return float(negligible_drop)


def metric_of(runs: pd.DataFrame, task: str) -> str:
    """The metric a task's scores are in (one per task: runs.csv's ``metric``)."""
    metrics = runs.loc[runs["task"] == task, "metric"].dropna().unique()
    if len(metrics) != 1:
        raise ValueError(f"runs table: task {task!r} has scores in {sorted(metrics)}; one metric per task")
    return str(metrics[0])


@dataclass
class Verdict:
    finding: str
    verdict: str
    reason: str
    evidence: pd.DataFrame = field(default_factory=pd.DataFrame)
    # the cells the verdict combines, as judged, the evidence row of each and what each cell is (its
    # key: task, pattern, placement, comparison...), by which a sequential design merges its looks
    # (sequential.merge_looks); the reason before its tally was filled in
    cells: list[Outcome] = field(default_factory=list)
    cell_rows: list[int] = field(default_factory=list)
    template: str = ""
    cell_keys: list[tuple] = field(default_factory=list)

    def rendered(self, cells: list[Outcome]) -> str:
        """The reason with these cells' tally."""
        return self.template.replace("{tally}", _tally(cells)) + _few_seeds_caveat(self.evidence.loc[self.cell_rows])




def run_groups(selected: pd.DataFrame) -> frozenset:
    """The run groups of these rows: ("runs", task, pattern, placement) of runs.csv, ("learned",
    task, variant, setting) of learned_runs.csv."""
    table = runs_table_kind(selected)
    columns = list(RUN_GROUP_COLUMNS[table])
    if selected.empty or not set(columns) <= set(selected):
        return frozenset()
    return frozenset((table, *map(str, key)) for key in zip(*(selected[column].to_numpy() for column in columns)))


class Scores(dict):
    """seed -> value of one cell, with the run groups it was read from (``groups``) and, where the
    runs table carries them, each seed's per-example values (``examples``: seed -> array) and the
    seeds whose run collapsed (``collapsed``, differences.COLLAPSED)."""

    def __init__(self, values=(), groups=frozenset(), examples=None, collapsed=()):
        super().__init__(values)
        self.groups = frozenset(groups)
        self.examples = dict(examples or {})
        self.collapsed = frozenset(collapsed)


def _select(runs: pd.DataFrame, **cell) -> pd.DataFrame:
    """The runs matching every column value in ``cell``."""
    chosen = np.ones(len(runs), dtype=bool)
    for column, value in cell.items():
        chosen &= runs[column].to_numpy() == value
    return runs[chosen]


def _by_seed(runs: pd.DataFrame, column: str, **cell) -> Scores:
    """seed -> value of the cell; a seed that appears twice in one cell is an error (one would
    silently overwrite the other)."""
    selected = _select(runs, **cell)
    seeds = selected["seed"].to_numpy().astype(int)
    if len(np.unique(seeds)) < len(seeds):
        twice = sorted({int(s) for s in seeds if (seeds == s).sum() > 1})
        raise ValueError(f"runs table: seed(s) {twice} appear more than once in the cell {cell}; each seed runs a "
                         "cell once")
    examples = None
    if EVAL_VALUES in selected and column == "score":
        examples = {seed: values for seed, values in zip(seeds.tolist(), selected[EVAL_VALUES]) if values is not None}
    collapsed = seeds[selected[COLLAPSED].to_numpy() == True].tolist() if COLLAPSED in selected else ()  # noqa: E712
    return Scores(zip(seeds.tolist(), selected[column].to_numpy().astype(float).tolist()), run_groups(selected), examples,
                  collapsed)


def _scores(runs: pd.DataFrame, **cell) -> Scores:
    """seed -> score of the runs matching every column value in ``cell``."""
    return _by_seed(runs, "score", **cell)


def unequal_sparsity(outcome: Outcome, why: str) -> Outcome:
    """A definitive comparison of two patterns at unequal sparsity made cannot tell: no p-value
    (it takes no part in Holm's correction) and no more seeds (they cannot make the sparsities equal)."""
    return replace(outcome, verdict=CANNOT_TELL, why=why, p_claim=math.nan, p_refute=math.nan, more_seeds_help=False)


def _tally(outcomes: list[Outcome]) -> str:
    verdicts = [outcome.verdict for outcome in outcomes]
    counts = {v: verdicts.count(v) for v in (SUPPORTED, NOT_SUPPORTED, CANNOT_TELL) if verdicts.count(v)}
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def _few_seeds_caveat(evidence: pd.DataFrame) -> str:
    if "seeds" in evidence and (evidence["seeds"] < MIN_DEFINITIVE_SEEDS).any():
        return (f"; fewer than {MIN_DEFINITIVE_SEEDS} paired seeds give no definitive verdict: run at least "
                f"{MIN_DEFINITIVE_SEEDS} seeds")
    return ""


def conclude(name: str, rows: list[dict], cells: list[Outcome], reason: str, keys: list[tuple],
             untested: str | None = None) -> Verdict:
    """A finding's verdict from its cells (decision.judge_cells: Holm's correction over them), the
    evidence table with each cell's verdict as judged, the reason (``{tally}`` in it becomes the
    count of cells per verdict) with the few-seeds caveat; ``not tested`` (why: ``untested``) when
    no cell could be judged. ``keys``: what each cell is, unique within the finding."""
    if len(set(keys)) != len(keys) or len(keys) != len(cells):
        raise ValueError(f"{name}: each cell needs a key of its own, got {keys}")
    evidence = pd.DataFrame(rows)
    if untested is not None and evidence.empty:
        return Verdict(name, NOT_TESTED, untested)
    verdict, judged = judge_cells(cells)
    if not evidence.empty:
        evidence["verdict"] = [cell.verdict for cell in judged]
        evidence["why"] = [cell.why for cell in judged]
    found = Verdict(name, verdict, "", evidence, judged, list(range(len(judged))), reason, list(keys))
    found.reason = found.rendered(judged)
    return found
