"""Findings 1-3, on fixed patterns: late vs all layers, the least damaging kinds at equal
sparsity, and which BigBird component costs most to remove."""

from __future__ import annotations

import pandas as pd

from ..aggregate import summarize
from ..decision import CANNOT_TELL, Outcome, all_of, decide, difference
from ..vocabulary import degrees_from_columns
from .cells import PAPER_KINDS, Verdict, _scores, _tally, conclude


def late_vs_all_layers(runs: pd.DataFrame, negligible_drop: float = 0.01, high_sparsity: float = 0.75) -> Verdict:
    """Finding 1: masking the late half at >= high_sparsity costs little; masking all layers costs a lot.

    Per task and highly sparse pattern run at both placements, two claims: 'late costs little'
    (late minus dense above -negligible_drop: an equivalence test) and 'all costs more' (all minus
    late below -negligible_drop). The cell supports the finding when both are supported.
    """
    name = "1. Late-layer sparsity >= 78% costs little; all-layer sparsity costs a lot"
    summary = summarize(runs)
    sparse = summary[(summary["kind"] != "dense") & (summary["sparsity_mean"] >= high_sparsity)]
    rows, outcomes = [], []
    for (task, pattern), cells in sparse.groupby(["task", "pattern"]):
        if not {"late", "all"} <= set(cells["placement"]):
            continue
        dense = _scores(runs, task=task, kind="dense")
        late = _scores(runs, task=task, pattern=pattern, placement="late")
        every = _scores(runs, task=task, pattern=pattern, placement="all")
        late_vs_dense, all_vs_late = difference(late, dense), difference(every, late)
        little = decide(late_vs_dense, above=-negligible_drop)
        more = decide(all_vs_late, below=-negligible_drop)
        cell = all_of([little, more])
        outcomes.append(cell.verdict)
        rows.append(
            {
                "task": task,
                "pattern": pattern,
                "sparsity": float(cells["sparsity_mean"].mean()),
                "seeds": min(len(late), len(every), len(dense)),
                "late - dense": str(late_vs_dense),
                "late costs little": little.verdict,
                "all - late": str(all_vs_late),
                "all costs more": more.verdict,
                "verdict": cell.verdict,
                "why": cell.why,
            }
        )
    reason = (f"per task x pattern ({_tally(outcomes)}): late costs little when late - dense has its whole 95% "
              f"interval above -{negligible_drop}; all costs more when all - late has its whole interval below "
              f"-{negligible_drop}")
    return conclude(name, rows, outcomes, reason, untested=f"no pattern at sparsity >= {high_sparsity} was run at both 'late' and 'all'")


def least_damaging_patterns(runs: pd.DataFrame, placement: str = "all", sparsity_tolerance: float = 0.01) -> Verdict:
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
        comparisons = []
        for good in ("neighbour", "random"):
            for bad in ("syntax", "lexical"):
                diff = difference(scores[good], scores[bad])
                outcome = decide(diff, above=0.0)
                winner, loser = (good, bad) if diff.mean > 0 else (bad, good)
                if outcome.verdict != CANNOT_TELL and sparsity[loser] - sparsity[winner] > sparsity_tolerance:
                    outcome = Outcome(CANNOT_TELL, f"{good} - {bad} {diff}, but {winner} is less sparse "
                                                   f"({sparsity[winner]:.3f} vs {sparsity[loser]:.3f})")
                comparisons.append(outcome)
        cell = all_of(comparisons)
        outcomes.append(cell.verdict)
        ranked = per_kind.sort_values("delta_vs_dense", ascending=False)
        rows.append(
            {
                "task": task,
                "ranking (least damage first, sparsity)": " > ".join(f"{k} ({sparsity[k]:.3f})" for k in ranked.index),
                **{kind: f"{per_kind.loc[kind, 'delta_vs_dense']:+.3f}" for kind in PAPER_KINDS},
                "seeds": int(per_kind["seeds"].min()),
                "comparisons": "; ".join(o.why for o in comparisons),
                "verdict": cell.verdict,
            }
        )
    reason = (f"per task ({_tally(outcomes)}), at placement '{placement}': neighbour and random each score above "
              f"syntax and lexical (paired differences, 95% intervals above 0); a winner less sparse than its loser "
              f"by more than {sparsity_tolerance} cannot tell")
    return conclude(name, rows, outcomes, reason, untested=f"the four kinds were not all run at placement '{placement}' on one task")


def _is_full_bigbird(degrees: dict) -> bool:
    return set(degrees) == {"g", "w", "r"} and min(degrees.values()) > 0


def removing_neighbour_hurts_most(runs: pd.DataFrame) -> Verdict:
    """Finding 3: among BigBird's global, neighbour and random components, removing neighbour costs
    the most. Per task, placement and full BigBird point (g, w, r > 0) whose three one-component-
    removed variants were run: two claims, removing w scores below removing g and below removing r
    (paired differences)."""
    name = "3. Among BigBird components, removing neighbour hurts most"
    bigbird = runs[runs["kind"] == "bigbird"]
    rows, outcomes = [], []
    for (task, placement), cells in bigbird.groupby(["task", "placement"]):
        points = cells.drop_duplicates("degrees")  # the typed degree columns, and their text as the label
        by_degrees = {tuple(sorted(degrees_from_columns(row).items())): row["degrees"] for _, row in points.iterrows()}
        for key, label in by_degrees.items():
            degrees = dict(key)
            if not _is_full_bigbird(degrees):
                continue
            removed = {c: by_degrees.get(tuple(sorted({**degrees, c: 0}.items()))) for c in "gwr"}
            if None in removed.values():
                continue
            scores = {c: _scores(cells, degrees=removed[c]) for c in "gwr"}
            full = _scores(cells, degrees=label)
            drops = {c: difference(scores[c], full) for c in "gwr"}
            claims = [decide(difference(scores["w"], scores[other]), below=0.0) for other in "gr"]
            cell = all_of(claims)
            outcomes.append(cell.verdict)
            rows.append(
                {
                    "task": task,
                    "placement": placement,
                    "full": label,
                    "sparsity (full)": float(cells.loc[cells["degrees"] == label, "sparsity_mean"].mean()),
                    **{f"without {c} - full": str(drops[c]) for c in "gwr"},
                    "largest drop": min(drops, key=lambda c: drops[c].mean),
                    "seeds": len(full),
                    "verdict": cell.verdict,
                    "why": cell.why,
                }
            )
    reason = (f"per task, placement and BigBird point ({_tally(outcomes)}): without w scores below without g and "
              f"below without r (paired differences, 95% intervals below 0)")
    return conclude(name, rows, outcomes, reason, untested="no full BigBird point (g, w, r > 0) was run together with all three of its one-component-removed variants")
