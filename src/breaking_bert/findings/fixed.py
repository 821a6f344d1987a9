"""Findings 1-3, on fixed patterns: late vs all layers, the least damaging kinds at equal
sparsity, and which BigBird component costs most to remove."""

from __future__ import annotations

import pandas as pd

from ..aggregate import summarize
from ..stats.decision import CANNOT_TELL, all_of, decide
from ..stats.differences import difference
from ..vocabulary import BASELINE_KIND, degrees_from_columns, grid_point_name
from .cells import (HIGH_SPARSITY, NEGLIGIBLE_DROP, PAPER_KINDS, SPARSITY_TOLERANCE, Verdict, _scores, conclude,
                    margin, metric_of, unequal_sparsity)


def late_vs_all_layers(runs: pd.DataFrame, negligible_drop: float | dict = NEGLIGIBLE_DROP,
                       high_sparsity: float = HIGH_SPARSITY) -> Verdict:
    """Finding 1: masking the late half at >= high_sparsity costs little; masking all layers costs a lot.

    Per task and highly sparse pattern run at both placements, two claims: 'late costs little'
    (late minus dense above minus the task metric's negligible drop: a one-sided non-inferiority
    test) and 'all costs more' (all minus late below minus that drop). The cell supports the
    finding when both are supported. All and late differ in how much of what reaches the classifier
    they mask as well as in where (their effective sparsities are shown, and the report says so).
    """
    name = f"1. Late-layer sparsity >= {high_sparsity:.0%} costs little; all-layer sparsity costs a lot"
    summary = summarize(runs)
    sparse = summary[(summary["kind"] != BASELINE_KIND) & (summary["sparsity_mean"] >= high_sparsity)]
    rows, outcomes, keys = [], [], []
    for (task, pattern), cells in sparse.groupby(["task", "pattern"]):
        if not {"late", "all"} <= set(cells["placement"]):
            continue
        dense = _scores(runs, task=task, kind=BASELINE_KIND)
        late = _scores(runs, task=task, pattern=pattern, placement="late")
        every = _scores(runs, task=task, pattern=pattern, placement="all")
        late_vs_dense, all_vs_late = difference(late, dense), difference(every, late)
        drop = margin(negligible_drop, metric_of(runs, task))
        little = decide(late_vs_dense, above=-drop)
        more = decide(all_vs_late, below=-drop)
        outcomes.append(all_of([little, more]))
        keys.append((task, pattern))
        effective = cells.set_index("placement")["effective_sparsity_mean"]
        rows.append(
            {
                "task": task,
                "pattern": pattern,
                "sparsity": float(cells["sparsity_mean"].mean()),
                # how much of what reaches the classifier each placement masks (masks/effective.py)
                "effective sparsity late / all": f"{effective['late']:.3f} / {effective['all']:.3f}",
                "negligible drop": drop,
                "seeds": min(late_vs_dense.n, all_vs_late.n),
                "late - dense": str(late_vs_dense),
                "late costs little": little.verdict,
                "all - late": str(all_vs_late),
                "all costs more": more.verdict,
            }
        )
    margins = ", ".join(sorted({f"{row['negligible drop']:g}" for row in rows})) or "-"
    reason = ("per task x pattern ({tally}): late costs little when late - dense has its whole 95% "
              f"interval above minus the task metric's negligible drop ({margins}); all costs more when all - late "
              "has its whole interval below it. All and late differ in amount as well as in placement: all masks "
              f"{_amount_gap(rows)} of what reaches the classifier, so 'all costs more' does not say that placement "
              "alone matters")
    return conclude(name, rows, outcomes, reason, keys,
                    untested=f"no pattern at sparsity >= {high_sparsity} was run at both 'late' and 'all'")


def _amount_gap(rows: list[dict]) -> str:
    """'0.773 against 0.309 (late)': the effective sparsity of all against late, over the cells."""
    pairs = [tuple(float(v) for v in row["effective sparsity late / all"].split(" / ")) for row in rows]
    pairs = [(late, every) for late, every in pairs if late == late and every == every]
    if not pairs:
        return "an unrecorded share (no effective sparsity)"
    lates, alls = [p[0] for p in pairs], [p[1] for p in pairs]
    span = lambda values: f"{min(values):.3f}" if min(values) == max(values) else f"{min(values):.3f}-{max(values):.3f}"
    return f"an effective sparsity of {span(alls)} where late masks {span(lates)}"


PAIRS = [(good, bad) for good in ("neighbour", "random") for bad in ("syntax", "lexical")]  # finding 2's claims


def least_damaging_patterns(runs: pd.DataFrame, placement: str = "all", sparsity_tolerance: float = SPARSITY_TOLERANCE) -> Verdict:
    """Finding 2: of syntax / lexical / neighbour / random (masked at ``placement``), neighbour and
    random are the two least damaging. Per task, four claims: each of neighbour and random scores
    above each of syntax and lexical (paired differences above 0). A comparison whose winner is
    less sparse than its loser by more than ``sparsity_tolerance`` cannot tell (the winner may only
    have kept more links); each kind's achieved sparsity is shown beside its rank."""
    name = "2. Neighbour and random are the least damaging of syntax / lexical / neighbour / random"
    summary = summarize(runs)
    cells = summary[(summary["placement"] == placement) & summary["kind"].isin(PAPER_KINDS)]
    rows, outcomes, keys = [], [], []
    for task, rows_of_task in cells.groupby("task"):
        # one cell per kind: its alphabetically first pattern (in the shipped configs, the one
        # named after the kind; matched controls are a kind of their own)
        per_kind = rows_of_task.sort_values("pattern").groupby("kind").first()
        if len(per_kind) < len(PAPER_KINDS):
            continue
        scores = {kind: _scores(runs, task=task, pattern=per_kind.loc[kind, "pattern"], placement=placement) for kind in PAPER_KINDS}
        sparsity = per_kind["sparsity_mean"]
        comparisons, paired = [], []
        # each comparison on its own spread and n - 1 df: the four share their runs (differences.py)
        differences = {(good, bad): difference(scores[good], scores[bad]) for good, bad in PAIRS}
        for good, bad in PAIRS:
            diff = differences[good, bad]
            paired.append(diff.n)
            outcome = decide(diff, above=0.0)
            winner, loser = (good, bad) if diff.mean > 0 else (bad, good)
            if outcome.verdict != CANNOT_TELL and sparsity[loser] - sparsity[winner] > sparsity_tolerance:
                outcome = unequal_sparsity(outcome, f"{good} - {bad} {diff}, but {winner} is less sparse "
                                                    f"({sparsity[winner]:.3f} vs {sparsity[loser]:.3f})")
            comparisons.append(outcome)
        outcomes.append(all_of(comparisons))
        keys.append((task, placement))
        ranked = per_kind.sort_values("delta_vs_dense", ascending=False)
        rows.append(
            {
                "task": task,
                "ranking (least damage first, sparsity)": " > ".join(f"{k} ({sparsity[k]:.3f})" for k in ranked.index),
                **{kind: f"{per_kind.loc[kind, 'delta_vs_dense']:+.3f}" for kind in PAPER_KINDS},
                "seeds": min(n for n in paired),
                "comparisons": "; ".join(o.why for o in comparisons),
            }
        )
    reason = (f"per task ({{tally}}), at placement '{placement}': neighbour and random each score above "
              f"syntax and lexical (paired differences, 95% intervals above 0); a winner less sparse than its loser "
              f"by more than {sparsity_tolerance} cannot tell")
    return conclude(name, rows, outcomes, reason, keys,
                    untested=f"the four kinds were not all run at placement '{placement}' on one task")


def _is_full_bigbird(degrees: dict) -> bool:
    return set(degrees) == {"g", "w", "r"} and min(degrees.values()) > 0


def _grid_of(pattern: str, degrees: dict) -> str:
    """The grid a BigBird point belongs to ('<grid>_g1_w3_r2' -> '<grid>'); a pattern named otherwise
    is a family of its own."""
    suffix = grid_point_name("", degrees)
    return pattern[: -len(suffix)] if pattern.endswith(suffix) and len(pattern) > len(suffix) else pattern


def removing_neighbour_hurts_most(runs: pd.DataFrame, sparsity_tolerance: float = SPARSITY_TOLERANCE) -> Verdict:
    """Finding 3: among BigBird's global, neighbour and random components, removing neighbour costs
    the most. Per task, placement, grid and full BigBird point (g, w, r > 0) whose three
    one-component-removed variants were run: two claims, removing w scores below removing g and
    below removing r (paired differences). Two removals compare only at equal sparsity: a pair
    whose achieved sparsities differ by more than ``sparsity_tolerance`` cannot tell (the sparser
    one may score lower for its sparsity alone); each removal's sparsity is shown. Points are keyed
    by their grid, so two grids with the same degrees stay apart."""
    name = "3. Among BigBird components, removing neighbour hurts most"
    bigbird = runs[runs["kind"] == "bigbird"]
    measured = []
    for (task, placement), cells in bigbird.groupby(["task", "placement"]):
        points = {}  # (grid, degrees) -> pattern
        for pattern, row in cells.drop_duplicates("pattern").set_index("pattern").iterrows():
            degrees = degrees_from_columns(row)
            points[_grid_of(pattern, degrees), tuple(sorted(degrees.items()))] = pattern
        for (grid, key), pattern in sorted(points.items()):
            degrees = dict(key)
            if not _is_full_bigbird(degrees):
                continue
            removed = {c: points.get((grid, tuple(sorted({**degrees, c: 0}.items())))) for c in "gwr"}
            if None in removed.values():
                continue
            scores = {c: _scores(cells, pattern=removed[c]) for c in "gwr"}
            sparsity = {c: float(cells.loc[cells["pattern"] == removed[c], "sparsity_mean"].mean()) for c in "gwr"}
            full = _scores(cells, pattern=pattern)
            drops = {c: difference(scores[c], full) for c in "gwr"}
            row = {
                "task": task,
                "placement": placement,
                "full": f"{pattern} ({cells.loc[cells['pattern'] == pattern, 'degrees'].iloc[0]})",
                "sparsity (full)": float(cells.loc[cells["pattern"] == pattern, "sparsity_mean"].mean()),
                **{f"sparsity without {c}": sparsity[c] for c in "gwr"},
                **{f"without {c} - full": str(drops[c]) for c in "gwr"},
                "largest drop": min(drops, key=lambda c: drops[c].mean),
                "seeds": min(drop.n for drop in drops.values()),
            }
            measured.append(((task, placement, grid, key), row, sparsity,
                             {other: difference(scores["w"], scores[other]) for other in "gr"}))
    rows, outcomes, keys = [], [], []
    for key, row, sparsity, removals in measured:
        claims = []
        for other in "gr":
            diff = removals[other]
            claim = decide(diff, below=0.0)
            gap = abs(sparsity["w"] - sparsity[other])
            if claim.verdict != CANNOT_TELL and gap > sparsity_tolerance:
                claim = unequal_sparsity(claim, f"without w - without {other} {diff}, but at unequal sparsity "
                                                  f"({sparsity['w']:.3f} vs {sparsity[other]:.3f})")
            claims.append(claim)
        outcomes.append(all_of(claims))
        rows.append(row)
        keys.append(key)
    reason = ("per task, placement and BigBird point ({tally}): without w scores below without g and below "
              f"without r (paired differences, 95% intervals below 0), each pair at sparsities within "
              f"{sparsity_tolerance} of each other")
    return conclude(name, rows, outcomes, reason, keys, untested="no full BigBird point (g, w, r > 0) was run together with all three of its one-component-removed variants")
