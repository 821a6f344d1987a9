"""Findings 1-3, on fixed patterns: late vs all layers, the least damaging kinds at equal
sparsity, and which BigBird component costs most to remove."""

from __future__ import annotations

import pandas as pd

from ..aggregate import summarize
from ..decision import CANNOT_TELL, all_of, decide
from ..differences import difference, pool
from ..vocabulary import BASELINE_KIND, degrees_from_columns, grid_point_name
from .cells import (HIGH_SPARSITY, NEGLIGIBLE_DROP, PAPER_KINDS, SPARSITY_TOLERANCE, Verdict, _scores, conclude,
                    unequal_sparsity)


def late_vs_all_layers(runs: pd.DataFrame, negligible_drop: float = NEGLIGIBLE_DROP, high_sparsity: float = HIGH_SPARSITY) -> Verdict:
    """Finding 1: masking the late half at >= high_sparsity costs little; masking all layers costs a lot.

    Per task and highly sparse pattern run at both placements, two claims: 'late costs little'
    (late minus dense above -negligible_drop: an equivalence test) and 'all costs more' (all minus
    late below -negligible_drop). The cell supports the finding when both are supported.
    """
    name = f"1. Late-layer sparsity >= {high_sparsity:.0%} costs little; all-layer sparsity costs a lot"
    summary = summarize(runs)
    sparse = summary[(summary["kind"] != BASELINE_KIND) & (summary["sparsity_mean"] >= high_sparsity)]
    measured = []
    for (task, pattern), cells in sparse.groupby(["task", "pattern"]):
        if not {"late", "all"} <= set(cells["placement"]):
            continue
        dense = _scores(runs, task=task, kind=BASELINE_KIND)
        late = _scores(runs, task=task, pattern=pattern, placement="late")
        every = _scores(runs, task=task, pattern=pattern, placement="all")
        measured.append((task, pattern, cells, difference(late, dense), difference(every, late)))
    rows, outcomes = [], []
    # each comparison's spread pooled over the cells (decision.pool)
    pooled = zip(pool([m[3] for m in measured]), pool([m[4] for m in measured]))
    for (task, pattern, cells, _, _), (late_vs_dense, all_vs_late) in zip(measured, pooled):
        little = decide(late_vs_dense, above=-negligible_drop)
        more = decide(all_vs_late, below=-negligible_drop)
        outcomes.append(all_of([little, more]))
        effective = cells.set_index("placement")["effective_sparsity_mean"]
        rows.append(
            {
                "task": task,
                "pattern": pattern,
                "sparsity": float(cells["sparsity_mean"].mean()),
                # how much of what reaches the classifier each placement masks (masks/effective.py)
                "effective sparsity late / all": f"{effective['late']:.3f} / {effective['all']:.3f}",
                "seeds": min(late_vs_dense.n, all_vs_late.n),
                "late - dense": str(late_vs_dense),
                "late costs little": little.verdict,
                "all - late": str(all_vs_late),
                "all costs more": more.verdict,
            }
        )
    reason = ("per task x pattern ({tally}): late costs little when late - dense has its whole 95% "
              f"interval above -{negligible_drop}; all costs more when all - late has its whole interval below "
              f"-{negligible_drop}")
    return conclude(name, rows, outcomes, reason, untested=f"no pattern at sparsity >= {high_sparsity} was run at both 'late' and 'all'")


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
    rows, outcomes = [], []
    for task, rows_of_task in cells.groupby("task"):
        # one cell per kind: its alphabetically first pattern (in the shipped configs, the one
        # named after the kind; matched controls are a kind of their own)
        per_kind = rows_of_task.sort_values("pattern").groupby("kind").first()
        if len(per_kind) < len(PAPER_KINDS):
            continue
        scores = {kind: _scores(runs, task=task, pattern=per_kind.loc[kind, "pattern"], placement=placement) for kind in PAPER_KINDS}
        sparsity = per_kind["sparsity_mean"]
        comparisons, paired = [], []
        # the four comparisons' spreads pooled (decision.pool)
        differences = dict(zip(PAIRS, pool([difference(scores[good], scores[bad]) for good, bad in PAIRS])))
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
    return conclude(name, rows, outcomes, reason, untested=f"the four kinds were not all run at placement '{placement}' on one task")


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
            measured.append((row, sparsity, {other: difference(scores["w"], scores[other]) for other in "gr"}))
    rows, outcomes = [], []
    # each comparison's spread pooled over the points (decision.pool)
    pooled = {other: pool([m[2][other] for m in measured]) for other in "gr"}
    for k, (row, sparsity, _) in enumerate(measured):
        claims = []
        for other in "gr":
            diff = pooled[other][k]
            claim = decide(diff, below=0.0)
            gap = abs(sparsity["w"] - sparsity[other])
            if claim.verdict != CANNOT_TELL and gap > sparsity_tolerance:
                claim = unequal_sparsity(claim, f"without w - without {other} {diff}, but at unequal sparsity "
                                                  f"({sparsity['w']:.3f} vs {sparsity[other]:.3f})")
            claims.append(claim)
        outcomes.append(all_of(claims))
        rows.append(row)
    reason = ("per task, placement and BigBird point ({tally}): without w scores below without g and below "
              f"without r (paired differences, 95% intervals below 0), each pair at sparsities within "
              f"{sparsity_tolerance} of each other")
    return conclude(name, rows, outcomes, reason, untested="no full BigBird point (g, w, r > 0) was run together with all three of its one-component-removed variants")
