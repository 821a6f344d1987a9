"""Seeds until the verdict is known (issue 28): a group-sequential design for the decision rule.

A sequential design (``seeds: {initial, max, step}``) runs seeds 0 .. initial - 1 of every cell,
judges, and adds ``step`` seeds only to the run groups that an undecided cell reads, up to ``max``
(the seeds of a cell are always 0, 1, 2, ...). Looking after every batch of seeds and stopping at
the first definitive interval would inflate the false-verdict rate; here each look spends part of
the one-sided 2.5% by Lan and DeMets' O'Brien-Fleming-type spending function

    alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t)),  t = seeds so far / max seeds,

so early looks need overwhelming evidence and the last look nearly the fixed design's. Each look's
test is a t-test on the paired differences: its nominal level is the level at which the chance of
crossing at that look, and at no earlier one, is the spending increment under the null. The t
statistics of nested samples are less correlated than z statistics (each look estimates the spread
afresh), so the level is computed on t statistics: exactly for the look alone (Student's t), by a
seeded simulation for the part that overlaps earlier crossings (``nominal_level``). Each side of a
claim (supported, not supported) spends its own 2.5%, as the fixed rule's interval does. Within a
finding Holm's correction uses, at each look, the nominal level of a boundary spending its share
(Maurer and Bretz 2013). The fixed design is the one-look case: its level is 2.5%, the rule as it was.

A cell's verdict is that of the first look at which it is definitive, judged on the seeds it had
then (``merge_looks``); a cell never definitive says so at the last look it reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..vocabulary import RUN_GROUP_COLUMNS, is_control, learned_variant, runs_table_kind
from .decision import CANNOT_TELL, NOT_SUPPORTED, PARTLY, SUPPORTED, Outcome, holm_rejections
from .differences import Difference
from .spending import ONE_SIDED_ALPHA, at_look, nominal_level

DEFINITIVE = (SUPPORTED, NOT_SUPPORTED)
SEQUENTIAL_RULE_TEXT = (
    "{design}. Every cell ran the first look's seeds; after each look only the run groups that "
    "undecided cells read (the cells and their paired baselines) ran the next seeds. Each look's tests (intervals, "
    "Holm's thresholds, Bonferroni over a cell's parts) use that look's nominal level, so that the looks together "
    "spend the fixed rule's 2.5% per side; a cell's verdict is that of the first look at which it was definitive, "
    "on the seeds it had then (column 'decided'; 'seeds' is its paired n there), else that of its last look. The "
    "design's calibration (false-definitive rate, power, seeds spent) is in docs/EXPERIMENTS.md."
)


@dataclass(frozen=True)
class Design:
    """Seeds per cell: ``initial``, then ``step`` more while undecided, up to ``max``."""

    initial: int
    max: int
    step: int

    @classmethod
    def from_config(cls, seeds) -> "Design":
        """A plain list of seeds is the fixed design (one look at all of them)."""
        if isinstance(seeds, dict):
            design = cls(int(seeds["initial"]), int(seeds["max"]), int(seeds["step"]))
            if design.initial < 2:  # one seed gives no spread: the first look could decide nothing
                raise ValueError(f"seeds: initial {design.initial}: need 2 <= initial <= max and step >= 1")
            return design
        return cls(len(seeds), len(seeds), 1)

    def __post_init__(self):
        if not 1 <= self.initial <= self.max or self.step < 1:
            raise ValueError(f"seeds: initial {self.initial}, max {self.max}, step {self.step}: need 2 <= initial "
                             "<= max and step >= 1")

    @property
    def looks(self) -> tuple[int, ...]:
        """The seed counts at which cells are judged."""
        counts = list(range(self.initial, self.max, self.step))
        return tuple(counts + [self.max])

    @property
    def sequential(self) -> bool:
        return len(self.looks) > 1

    def describe(self) -> str:
        if not self.sequential:
            return f"Fixed design: {self.max} seeds per cell, one look"
        levels = ", ".join(f"{n} seeds: {nominal_level(self.looks, k, ONE_SIDED_ALPHA):.2g}"
                           for k, n in enumerate(self.looks))
        return (f"Sequential design: looks at {', '.join(map(str, self.looks))} seeds (at most {self.max}); one-sided "
                f"nominal levels {levels} (O'Brien-Fleming-type spending of 2.5% per side, on t statistics)")


# ---------------------------------------------------------------------------------------------
# Looks: each judged on the seeds it had, merged cell by cell, and the run groups that go on


def through(runs: pd.DataFrame | None, seeds: int) -> pd.DataFrame | None:
    """The runs of seeds 0 .. seeds - 1."""
    return None if runs is None else runs[runs["seed"].astype(int) < seeds]


def judge_looks(design: Design, runs: pd.DataFrame, learned_runs: pd.DataFrame | None,
                judge: Callable, last: int | None = None) -> list:
    """Every finding (``judge(runs, learned_runs)`` -> list of findings.cells.Verdict) judged at each
    look through ``last`` (default: every look) on the seeds of that look, merged (merge_looks)."""
    if not design.sequential:  # the fixed design: one look at whatever seeds were run
        with at_look(design.looks, 0):
            return judge(runs, learned_runs)
    last = len(design.looks) - 1 if last is None else last
    per_look = []
    for index in range(last + 1):
        seeds = design.looks[index]
        with at_look(design.looks, index):
            per_look.append(judge(through(runs, seeds), through(learned_runs, seeds)))
    return merge_looks(design, per_look)


def merge_looks(design: Design, per_look: list[list]) -> list:
    """One verdict per finding from its verdict at each look, matched by what it is: findings by
    name, cells by key (Verdict.cell_keys), never by position (finding 4 orders its cells by
    sparsity, which moves as seeds are added). Each of the last look's cells is taken as judged at
    the first look where that cell was definitive (its evidence row from that look), else as at the
    last look; a cell absent from an earlier look has no verdict there, and one absent from the
    last look (it left the finding since, e.g. below its sparsity gate) stays with the verdict of the
    look that decided it if one did (dropping it could drop a refutation), and is left out if none
    did. The finding's verdict from those cells (supported when all are; not supported, or
    partly, when one refutes it; else cannot tell), except that it is supported only when some
    single look supported every one of them: cells supported at different looks never add up to a
    support no look saw."""
    merged = []
    for shown in per_look[-1]:
        history = [next((v for v in verdicts if v.finding == shown.finding), None) for verdicts in per_look]
        keyed = [v for v in history if v is not None and v.cells and len(v.cell_keys) == len(v.cells)]
        if not keyed:
            merged.append(shown)
            continue
        # the last look's cells; where it has none left (all below the gate, say), none, on the frame
        # of the last look that had some, so that earlier decided cells are still reported
        last = shown if keyed[-1] is shown else replace(keyed[-1], evidence=keyed[-1].evidence.iloc[0:0].copy(),
                                                        cells=[], cell_rows=[], cell_keys=[])
        cells, evidence, decided_at = [], last.evidence.copy(), []
        for key, row in zip(last.cell_keys, last.cell_rows):
            judged = [(k, v, v.cell_keys.index(key)) for k, v in enumerate(history)
                      if v is not None and key in v.cell_keys]
            look, verdict, c = next(((k, v, c) for k, v, c in judged if v.cells[c].verdict in DEFINITIVE), judged[-1])
            cells.append(verdict.cells[c])
            evidence.loc[row] = verdict.evidence.loc[verdict.cell_rows[c]]
            decided_at.append(f"look {look + 1} ({design.looks[look]} seeds)" if verdict.cells[c].verdict in DEFINITIVE
                              else f"undecided after look {look + 1} ({design.looks[look]} seeds)")
        evidence["decided"] = ""
        evidence.loc[last.cell_rows, "decided"] = decided_at
        keys, rows = list(last.cell_keys), list(last.cell_rows)
        # a cell decided at an earlier look stays, though it left the finding since (its sparsity
        # moved across the gate as seeds were added): dropping it could drop a refutation
        for k, verdict in enumerate(history):
            for c, key in enumerate(verdict.cell_keys if verdict is not None else ()):
                if key in keys or verdict.cells[c].verdict not in DEFINITIVE:
                    continue
                row = verdict.evidence.loc[verdict.cell_rows[c]].copy()
                row["decided"] = f"look {k + 1} ({design.looks[k]} seeds); not among the last look's cells"
                evidence = pd.concat([evidence, row.to_frame().T], ignore_index=True)
                keys.append(key)
                rows.append(len(evidence) - 1)
                cells.append(verdict.cells[c])
        if not cells:  # nothing decided ever left: the last look's verdict as it is
            merged.append(shown)
            continue
        found = _combine(cells)
        reason = replace(last, evidence=evidence, cell_rows=rows).rendered(cells)
        if found == SUPPORTED and not any(v is not None and v.verdict == SUPPORTED and set(keys) <= set(v.cell_keys)
                                          for v in history):
            found = CANNOT_TELL
            reason += ("; every cell was supported at some look, but no single look supported them all, so the "
                       "finding is not supported by any one look's evidence")
        merged.append(replace(last, verdict=found, evidence=evidence, cells=cells, reason=reason, cell_rows=rows,
                              cell_keys=keys))
    return merged


def _combine(cells: list[Outcome]) -> str:
    found = {cell.verdict for cell in cells}
    if found == {SUPPORTED}:
        return SUPPORTED
    if NOT_SUPPORTED in found:
        return PARTLY if SUPPORTED in found else NOT_SUPPORTED
    return CANNOT_TELL


def undecided_groups(verdicts: Iterable) -> set[tuple]:
    """The run groups that undecided cells read, where more seeds could decide them; a learned
    run's group goes with its frozen control's (the control trains from the learned run's windows)."""

    groups = set()
    for verdict in verdicts:
        for cell in verdict.cells:
            if cell.verdict not in DEFINITIVE and cell.more_seeds_help:
                groups |= cell.reads
    learned = [group for group in groups if group[0] == "learned"]  # ("learned", task, variant, setting)
    groups |= {("learned", task, learned_variant(variant), setting)
               for _, task, variant, setting in learned if is_control(variant)}
    return groups


def look_decisions(design: Design, look: int, runs: pd.DataFrame, learned_runs: pd.DataFrame | None,
                   judge: Callable) -> dict:
    """What the look checkpoint writes: every finding's cells as judged through look ``look`` (0
    based), and the run groups that get the next look's seeds (none after the last look)."""
    verdicts = judge_looks(design, runs, learned_runs, judge, last=look)
    going = undecided_groups(verdicts) if look < len(design.looks) - 1 else set()
    findings = []
    for verdict in verdicts:
        tally = {v: sum(cell.verdict == v for cell in verdict.cells) for v in (*DEFINITIVE, CANNOT_TELL)}
        findings.append({"finding": verdict.finding, "verdict": verdict.verdict, "cells": tally})
    return {
        "look": look + 1,
        "looks": list(design.looks),
        "seeds": design.looks[look],
        "design": design.describe(),
        "findings": findings,
        "continuing": {table: sorted(list(group[1:]) for group in going if group[0] == table)
                       for table in ("runs", "learned")},
        "next_seeds": list(range(design.looks[look], design.looks[look + 1])) if going else [],
    }


def available(runs: pd.DataFrame | None, design: Design, continuing: list[set[tuple]]) -> pd.DataFrame | None:
    """The runs a sequential design would have after looks 0 .. len(continuing): every group's
    first ``initial`` seeds, and the next step's seeds of the groups continuing after each look
    (for simulations over tables that hold every seed of every group)."""
    if runs is None:
        return None

    table = runs_table_kind(runs)
    keys = [tuple([table, *map(str, key)]) for key in runs[list(RUN_GROUP_COLUMNS[table])].itertuples(index=False)]
    limit = np.full(len(runs), design.looks[0])
    for look, groups in enumerate(continuing):
        going = np.array([key in groups for key in keys], dtype=bool)
        limit = np.where(going, design.looks[look + 1], limit)
    return runs[runs["seed"].astype(int).to_numpy() < limit]


def run_design(design: Design, runs: pd.DataFrame, learned_runs: pd.DataFrame | None, judge: Callable):
    """The design run on tables holding every seed of every group, look by look as the workflow
    runs it: (merged verdicts, runs used, learned runs used). Each look is judged once: what an
    earlier look saw is the same in every later look's tables (judge_looks judges them again)."""
    continuing: list[set[tuple]] = []
    per_look = []
    for look, seeds in enumerate(design.looks):
        used, learned_used = available(runs, design, continuing), available(learned_runs, design, continuing)
        with at_look(design.looks, look):
            per_look.append(judge(through(used, seeds), through(learned_used, seeds)))
        verdicts = merge_looks(design, per_look) if design.sequential else per_look[-1]
        if look == len(design.looks) - 1:
            return verdicts, used, learned_used
        continuing.append(undecided_groups(verdicts))


def simulate(design: Design, cells: int, effect: float, spread: float, draws: int, seed: int = 0) -> dict:
    """A finding of ``cells`` comparisons, each claiming its paired difference is above 0, judged
    look by look under ``design`` on simulated seeds (per-seed differences ~ N(effect, spread)), as
    judge_looks judges a finding: at each look every cell is tested on the seeds it has, with
    Holm's correction over all of them at the look's levels (supports and refutations each a
    family); a cell stops at its first definitive look, an undecided one runs to ``max`` (no
    futility stop: on 3 seeds the spread is too rough to judge that more cannot help; stopping for
    it cost two thirds of the power in a first version). Faster than the findings' own code
    (calibration.draws.sequential_rates), for many draws; each p-value is Difference.p_value, the rule's own. Returns the share of draws with any
    definitive verdict, the share in which every cell is supported, and the mean seeds a cell used."""
    rng = np.random.default_rng(seed)
    any_definitive = all_supported = seeds_used = 0
    for _ in range(draws):
        deltas = rng.normal(effect, spread, (cells, design.max))
        verdict = ["open"] * cells
        used = np.zeros(cells, dtype=int)
        for look, n in enumerate(design.looks):
            used = np.where([v == "open" for v in verdict], n, used)
            # each cell's paired difference on its seeds so far, tested as the rule tests it
            cell_differences = [Difference(float(deltas[i, : used[i]].mean()), float(deltas[i, : used[i]].std(ddof=1)),
                                           int(used[i]), paired=True) for i in range(cells)]
            with at_look(design.looks, look):
                for outcome, side in ((SUPPORTED, "above"), (NOT_SUPPORTED, "below")):
                    p = [d.p_value(0.0, side) for d in cell_differences]
                    for i, rejected in enumerate(holm_rejections(p)):
                        if rejected and verdict[i] == "open":
                            verdict[i] = outcome
            if "open" not in verdict:
                break
        any_definitive += any(v in DEFINITIVE for v in verdict)
        all_supported += all(v == SUPPORTED for v in verdict)
        seeds_used += float(used.mean())
    return {"definitive": any_definitive / draws, "supported": all_supported / draws, "seeds": seeds_used / draws}
