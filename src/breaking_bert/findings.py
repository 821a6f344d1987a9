"""The generated findings report: does this run support each of the paper's four findings?

Each check reads the per-seed runs table (``results/tables/runs.csv``; learned runs from
``learned_runs.csv``) and judges every comparison with the one decision rule of ``decision.py``: a
95% t interval of the score difference, paired by seed, and three outcomes per cell, supported /
not supported / cannot tell. A finding over several cells is supported when every cell supports
it, not supported (or partly, when others support it) when a cell refutes it, else cannot tell;
``not tested`` when the cells it needs were not run. The thresholds are config values
(``findings`` in config/schema.yaml):

- ``negligible_drop``: a drop vs dense whose whole interval is smaller than this "costs little"
  (default 0.01, one point);
- ``high_sparsity``: cells at or above this achieved sparsity are "highly sparse" (default 0.75);
- ``sparsity_tolerance``: two patterns compared in finding 2 whose achieved sparsities differ by
  more than this are not comparable when the less sparse one wins (default 0.01).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .aggregate import summarize
from .decision import CANNOT_TELL, NOT_SUPPORTED, PARTLY, RULE_TEXT, SUPPORTED, Outcome, all_of, combine, decide, difference
from .vocabulary import control_of, is_control, parse_degrees, placement_layers

PAPER_KINDS = ("syntax", "lexical", "neighbour", "random")
NOT_TESTED = "not tested"


@dataclass
class Verdict:
    finding: str
    verdict: str
    reason: str
    evidence: pd.DataFrame = field(default_factory=pd.DataFrame)


def _select(runs: pd.DataFrame, **cell) -> pd.DataFrame:
    """The runs matching every column value in ``cell``."""
    selected = runs
    for column, value in cell.items():
        selected = selected[selected[column] == value]
    return selected


def _by_seed(runs: pd.DataFrame, column: str, **cell) -> dict[int, float]:
    selected = _select(runs, **cell)
    return dict(zip(selected["seed"].astype(int), selected[column].astype(float)))


def _scores(runs: pd.DataFrame, **cell) -> dict[int, float]:
    """seed -> score of the runs matching every column value in ``cell``."""
    return _by_seed(runs, "score", **cell)


def _tally(outcomes: list[str]) -> str:
    counts = {v: outcomes.count(v) for v in (SUPPORTED, NOT_SUPPORTED, CANNOT_TELL) if outcomes.count(v)}
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def _one_seed_caveat(evidence: pd.DataFrame) -> str:
    if "seeds" in evidence and (evidence["seeds"] < 2).any():
        return "; one seed gives no spread, so no verdict can be definitive: run at least 2 seeds (3 or more to measure the spread)"
    return ""


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
    evidence = pd.DataFrame(rows)
    if evidence.empty:
        return Verdict(name, NOT_TESTED, f"no pattern at sparsity >= {high_sparsity} was run at both 'late' and 'all'")
    reason = (f"per task x pattern ({_tally(outcomes)}): late costs little when late - dense has its whole 95% "
              f"interval above -{negligible_drop}; all costs more when all - late has its whole interval below "
              f"-{negligible_drop}")
    return Verdict(name, combine(outcomes), reason + _one_seed_caveat(evidence), evidence)


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
    evidence = pd.DataFrame(rows)
    if evidence.empty:
        return Verdict(name, NOT_TESTED, f"the four kinds were not all run at placement '{placement}' on one task")
    reason = (f"per task ({_tally(outcomes)}), at placement '{placement}': neighbour and random each score above "
              f"syntax and lexical (paired differences, 95% intervals above 0); a winner less sparse than its loser "
              f"by more than {sparsity_tolerance} cannot tell")
    return Verdict(name, combine(outcomes), reason + _one_seed_caveat(evidence), evidence)


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
        by_degrees = {tuple(sorted(parse_degrees(d).items())): d for d in cells["degrees"].unique()}
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
    evidence = pd.DataFrame(rows)
    if evidence.empty:
        return Verdict(name, NOT_TESTED, "no full BigBird point (g, w, r > 0) was run together with all three of its one-component-removed variants")
    reason = (f"per task, placement and BigBird point ({_tally(outcomes)}): without w scores below without g and "
              f"below without r (paired differences, 95% intervals below 0)")
    return Verdict(name, combine(outcomes), reason + _one_seed_caveat(evidence), evidence)


def frontier_at(learned_runs: pd.DataFrame, task: str, variant: str, sparsity_by_seed: dict[int, float]) -> dict[int, float]:
    """seed -> the learned frontier's score at that seed's sparsity: linear between the two points
    of the same seed (and variant) around it. Seeds whose sparsity lies outside their frontier's
    range are left out (no extrapolation)."""
    import numpy as np

    scores = {}
    selected = _select(learned_runs, task=task, variant=variant)
    for seed, sparsity in sparsity_by_seed.items():
        frontier = selected[selected["seed"] == seed].sort_values("sparsity_mean")
        if len(frontier) and frontier["sparsity_mean"].min() <= sparsity <= frontier["sparsity_mean"].max():
            scores[seed] = float(np.interp(sparsity, frontier["sparsity_mean"], frontier["score"]))
    return scores


def _against_frontier(learned_runs, task, variant, sparsity, scores, point_above=False) -> tuple[Outcome, str]:
    """The claim 'the frontier scores above these scores at their sparsity' (with point_above,
    'these scores are above the frontier'), paired by seed."""
    frontier = frontier_at(learned_runs, task, variant, sparsity)
    if not frontier:
        span = _select(learned_runs, task=task, variant=variant)["sparsity_mean"]
        where = f"{span.min():.3f}-{span.max():.3f}" if len(span) else "none"
        at = sum(sparsity.values()) / max(len(sparsity), 1)
        return Outcome(CANNOT_TELL, f"sparsity {at:.3f} is outside the {variant} frontier ({where}); "
                                    f"add a learned target on each side of it"), ""
    if point_above:
        diff = difference(scores, frontier)
        return decide(diff, above=0.0), f"point - {variant} frontier {diff}"
    diff = difference(frontier, scores)
    return decide(diff, above=0.0), f"{variant} frontier - point {diff}"


def learned_beats_bigbird(runs: pd.DataFrame, learned_runs: pd.DataFrame | None, high_sparsity: float = 0.75) -> Verdict:
    """Finding 4: learned neighbour degrees dominate fixed BigBird patterns at high sparsity.

    Every full BigBird cell (g, w, r > 0; an ablation with a component removed is no BigBird point)
    is compared with each learned variant's frontier interpolated at the cell's achieved sparsity,
    seed by seed (no extrapolation beyond the learned targets), and the claim is that the frontier
    scores above it (paired difference). The finding's verdict combines the cells at sparsity >=
    high_sparsity; the others are listed for context, as are the frozen-window controls
    (``<variant>_frozen``: the learned windows, fixed, trained again from the pretrained model),
    whose rows say how much of a gain the windows alone explain."""
    name = "4. Learned neighbour degrees dominate fixed BigBird patterns at high sparsity"
    if learned_runs is None or learned_runs.empty:
        return Verdict(name, NOT_TESTED, "no learned-sparsity run (experiment 3) in this config")
    summary = summarize(runs)
    bigbird = summary[summary["kind"] == "bigbird"]
    bigbird = bigbird[bigbird["degrees"].map(lambda d: _is_full_bigbird(parse_degrees(d))).astype(bool)]
    rows, outcomes = [], []
    for _, point in bigbird.sort_values("sparsity_mean").iterrows() if len(bigbird) else ():
        cell = {"task": point["task"], "pattern": point["pattern"], "placement": point["placement"]}
        bigbird_scores, sparsity = _scores(runs, **cell), _by_seed(runs, "sparsity_mean", **cell)
        for variant in sorted(learned_runs.loc[learned_runs["task"] == point["task"], "variant"].unique()):
            outcome, compared = _against_frontier(learned_runs, point["task"], variant, sparsity, bigbird_scores)
            control = is_control(variant)
            counted = point["sparsity_mean"] >= high_sparsity and not control
            if counted:
                outcomes.append(outcome.verdict)
            label = outcome.verdict
            if control:
                label = f"({outcome.verdict}; control: the windows alone, not counted)"
            elif not counted:
                label = f"({outcome.verdict}; below {high_sparsity}, not counted)"
            rows.append(
                {
                    "task": point["task"],
                    "bigbird": f"{point['degrees']} ({point['placement']})",
                    "bigbird sparsity": point["sparsity_mean"],
                    "bigbird score": point["score_mean"],
                    "seeds": len(bigbird_scores),
                    "learned frontier at that sparsity": compared,
                    "verdict": label,
                    "why": outcome.why,
                }
            )
    evidence = pd.DataFrame(rows)
    if not outcomes:
        return Verdict(name, NOT_TESTED, f"no full BigBird point (g, w, r > 0) reached sparsity >= {high_sparsity}", evidence)
    reason = (f"per full BigBird point at sparsity >= {high_sparsity} and learned variant ({_tally(outcomes)}): the "
              f"learned frontier, interpolated seed by seed at the point's achieved sparsity, scores higher (95% "
              f"interval above 0)")
    return Verdict(name, combine(outcomes), reason + _one_seed_caveat(evidence), evidence)


def irregular_beats_regular(learned_runs: pd.DataFrame | None) -> Verdict:
    """Beyond the paper: does the irregular variant (degrees per position class) beat the regular
    one at equal sparsity? Each irregular point against the regular frontier interpolated at its
    sparsity, seed by seed, with the same rule as finding 4."""
    name = "Irregular learned degrees beat regular ones at equal sparsity"
    if learned_runs is None or not {"regular", "irregular"} <= set(learned_runs["variant"]):
        return Verdict(name, NOT_TESTED, "both variants were not run")
    irregular = learned_runs[learned_runs["variant"] == "irregular"]
    rows, outcomes = [], []
    for (task, setting), cells in irregular.groupby(["task", "setting"]):
        scores, sparsity = _scores(cells), _by_seed(cells, "sparsity_mean")
        outcome, compared = _against_frontier(learned_runs, task, "regular", sparsity, scores, point_above=True)
        outcomes.append(outcome.verdict)
        rows.append({"task": task, "irregular": setting, "sparsity": cells["sparsity_mean"].mean(),
                     "seeds": len(scores), "regular frontier there": compared, "verdict": outcome.verdict,
                     "why": outcome.why})
    evidence = pd.DataFrame(rows)
    reason = (f"per irregular point ({_tally(outcomes)}): it scores above the regular frontier interpolated at its "
              f"sparsity (95% interval above 0)")
    return Verdict(name, combine(outcomes), reason + _one_seed_caveat(evidence), evidence)


def learning_beats_its_frozen_control(learned_runs: pd.DataFrame | None) -> Verdict:
    """Beyond the paper: does learning the windows during finetuning add to the windows themselves?
    Each learned run against its control (the same final windows, fixed, trained again from the
    pretrained model; same task, setting and seed): the claim that the learned run scores higher
    (paired difference). Supported: the gain needs the windows to be learned alongside the model;
    not supported: the windows alone do better; cannot tell: the difference is within noise."""
    name = "Learning the windows during finetuning beats training with them fixed"
    if learned_runs is None or not learned_runs["variant"].map(is_control).any():
        return Verdict(name, NOT_TESTED, "no frozen-window control was run (learned_sparsity.controls)")
    rows, outcomes = [], []
    for (task, variant, setting), cells in learned_runs.groupby(["task", "variant", "setting"]):
        if is_control(variant):
            continue
        control = _select(learned_runs, task=task, variant=control_of(variant), setting=setting)
        if control.empty:
            continue
        diff = difference(_scores(cells), _scores(control))
        outcome = decide(diff, above=0.0)
        outcomes.append(outcome.verdict)
        rows.append({"task": task, "variant": variant, "setting": setting, "sparsity": cells["sparsity_mean"].mean(),
                     "control sparsity": control["sparsity_mean"].mean(), "seeds": diff.n,
                     "learned - control": str(diff), "verdict": outcome.verdict, "why": outcome.why})
    evidence = pd.DataFrame(rows)
    reason = (f"per learned run ({_tally(outcomes)}): it scores above its frozen-window control, paired by seed (95% "
              f"interval above 0); the control has the learned run's final windows, so the same sparsity")
    return Verdict(name, combine(outcomes), reason + _one_seed_caveat(evidence), evidence)


def learned_degree_placement(learned: pd.DataFrame) -> str:
    """Where the learned degrees put their connections: the mean hardened window of the early and
    the late half of the layers, per setting; experiment 1 predicts wider early windows."""
    from .aggregate import to_markdown

    if learned is None or learned.empty:
        return ""
    table = learned[["task", "variant", "setting", "seeds", "sparsity_mean", "score_mean", "early_window", "late_window"]].copy()
    table["early wider"] = table["early_window"] > table["late_window"]
    wider = int(table["early wider"].sum())
    lines = [
        "## Where the learned degrees put their connections",
        "",
        f"Early layers (first half) keep wider windows than late layers in {wider} of {len(table)} learned settings "
        "(mean hardened window over heads, position classes and seeds). Experiment 1's placement result predicts "
        "wider early windows, since sparsity costs more early.",
        "",
        to_markdown(table, float_format="{:.3f}"),
    ]
    return "\n".join(lines)


def retained_mass_vs_damage(summary: pd.DataFrame, retained: pd.DataFrame) -> pd.DataFrame:
    """Per sparse cell: the mean retained dense attention mass over the layers it masks (a
    prediction made before finetuning) beside its measured delta vs dense."""

    rows = []
    for _, cell in summary[summary["kind"] != "dense"].iterrows():
        mass = retained[(retained["task"] == cell["task"]) & (retained["pattern"] == cell["pattern"])]
        if mass.empty:
            continue
        per_layer = mass.groupby("layer")["retained_mass"].mean()
        layers = sorted(placement_layers(cell["placement"], len(per_layer)))
        rows.append(
            {
                "task": cell["task"],
                "pattern": cell["pattern"],
                "placement": cell["placement"],
                "retained_mass": float(per_layer.loc[layers].mean()),
                # what the masked layers lose, summed: a placement that masks more layers loses more
                "lost_mass_sum": float((1 - per_layer.loc[layers]).sum()),
                "delta_vs_dense": cell["delta_vs_dense"],
            }
        )
    return pd.DataFrame(rows)


def retained_mass_section(summary: pd.DataFrame, retained: pd.DataFrame | None, cost: pd.DataFrame | None) -> str:
    """Beyond the paper: does retained attention mass predict the damage? And what does each
    pattern cost?"""
    from .aggregate import to_markdown

    lines = ["## Beyond the paper: what each pattern keeps and costs", ""]
    if retained is not None and not retained.empty:
        table = retained_mass_vs_damage(summary, retained)
        for task, cells in table.groupby("task"):
            if len(cells) >= 3:
                pearson = cells["lost_mass_sum"].corr(cells["delta_vs_dense"])
                spearman = cells["lost_mass_sum"].rank().corr(cells["delta_vs_dense"].rank())
                lines.append(
                    f"- {task}: over {len(cells)} cells, the attention mass lost at the masked layers (summed over "
                    f"layers, pretrained model) against the measured delta vs dense: Pearson {pearson:+.2f}, "
                    f"Spearman {spearman:+.2f} (negative: losing more mass predicts a larger drop)."
                )
            else:
                lines.append(f"- {task}: fewer than 3 sparse cells, no correlation computed.")
        lines += ["", to_markdown(table, float_format="{:.3f}")]
    if cost is not None and not cost.empty:
        lines += ["Cost of each pattern on its task's eval split (fractions of dense; block columns: share of kernel blocks with any allowed pair, which a block-sparse kernel must compute):", "", to_markdown(cost, float_format="{:.3f}")]
    return "\n".join(lines)


def dense_stability(summary: pd.DataFrame) -> pd.DataFrame:
    dense = summary[summary["kind"] == "dense"]
    return dense[["task", "metric", "seeds", "score_mean", "score_std"]].reset_index(drop=True)


def all_verdicts(runs: pd.DataFrame, learned_runs: pd.DataFrame | None = None, negligible_drop: float = 0.01,
                 high_sparsity: float = 0.75, sparsity_tolerance: float = 0.01) -> list[Verdict]:
    return [
        late_vs_all_layers(runs, negligible_drop, high_sparsity),
        least_damaging_patterns(runs, sparsity_tolerance=sparsity_tolerance),
        removing_neighbour_hurts_most(runs),
        learned_beats_bigbird(runs, learned_runs, high_sparsity),
    ] + ([irregular_beats_regular(learned_runs), learning_beats_its_frozen_control(learned_runs)] if learned_runs is not None else [])


def render_report(verdicts: list[Verdict], summary: pd.DataFrame, extra_sections: list[str] = ()) -> str:
    from .aggregate import to_markdown

    lines = ["# Findings", "", "Generated by the pipeline from results/tables/runs.csv; differences are in metric units, "
             "each with its 95% interval in brackets.", "", RULE_TEXT, ""]
    lines += ["| finding | verdict |", "| --- | --- |"]
    lines += [f"| {v.finding} | **{v.verdict}** |" for v in verdicts]
    lines += ["", "## Dense baseline across seeds", "", to_markdown(dense_stability(summary))]
    for v in verdicts:
        lines += [f"## {v.finding}", "", f"**{v.verdict}**: {v.reason}.", ""]
        if not v.evidence.empty:
            lines.append(to_markdown(v.evidence, float_format="{:.3f}"))
    lines += list(extra_sections)
    return "\n".join(lines) + "\n"
