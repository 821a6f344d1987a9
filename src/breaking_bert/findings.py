"""The generated findings report: does this run support each of the paper's four findings?

Each check reads the aggregated summary (one row per task x pattern x placement with the mean and
spread over seeds and the delta vs dense) and returns a ``Verdict``: ``supported``, ``partly``,
``not supported`` or ``not tested`` (the cells it needs were not run), with the numbers behind it.
The thresholds are config values (``findings`` in config/schema.yaml):

- ``negligible_drop``: a drop vs dense smaller than this costs "little" (default 0.01, one point);
- ``high_sparsity``: cells at or above this achieved sparsity are "highly sparse" (default 0.75).

A difference counts as real only when it exceeds twice its standard error over seeds, so a
one-seed run can support nothing by noise alone: with one seed the spread is unknown and every
verdict says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PAPER_KINDS = ("syntax", "lexical", "neighbour", "random")
SUPPORTED, PARTLY, NOT_SUPPORTED, NOT_TESTED = "supported", "partly", "not supported", "not tested"


@dataclass
class Verdict:
    finding: str
    verdict: str
    reason: str
    evidence: pd.DataFrame = field(default_factory=pd.DataFrame)


def _fmt(mean: float, se: float) -> str:
    return f"{mean:+.3f} ± {se:.3f}"


def _tally(hits: int, total: int) -> str:
    if total == 0:
        return NOT_TESTED
    if hits == total:
        return SUPPORTED
    return PARTLY if hits else NOT_SUPPORTED


def late_vs_all_layers(summary: pd.DataFrame, negligible_drop: float = 0.01, high_sparsity: float = 0.75) -> Verdict:
    """Finding 1: masking the late half at >= high_sparsity costs little; masking all layers costs a lot.

    Per task and highly sparse pattern with both placements run: 'late costs little' when its drop is
    smaller than negligible_drop or within 2 standard errors of zero; 'all costs a lot' when the
    all-layer delta is below the late delta by more than negligible_drop and by more than 2
    standard errors. Supported when both hold for every such pair.
    """
    name = "1. Late-layer sparsity >= 78% costs little; all-layer sparsity costs a lot"
    sparse = summary[(summary["kind"] != "dense") & (summary["sparsity_mean"] >= high_sparsity)]
    rows = []
    for (task, pattern), cells in sparse.groupby(["task", "pattern"]):
        by_placement = cells.set_index("placement")
        if not {"late", "all"} <= set(by_placement.index):
            continue
        late, every = by_placement.loc["late"], by_placement.loc["all"]
        gap = every["delta_vs_dense"] - late["delta_vs_dense"]
        gap_se = float(np.hypot(late["score_std"] / np.sqrt(late["seeds"]), every["score_std"] / np.sqrt(every["seeds"])))
        late_little = late["delta_vs_dense"] > -negligible_drop or abs(late["delta_vs_dense"]) <= 2 * late["delta_std"]
        all_a_lot = gap < -negligible_drop and gap < -2 * gap_se
        rows.append(
            {
                "task": task,
                "pattern": pattern,
                "sparsity": late["sparsity_mean"],
                "seeds": int(min(late["seeds"], every["seeds"])),
                "late delta": _fmt(late["delta_vs_dense"], late["delta_std"]),
                "all delta": _fmt(every["delta_vs_dense"], every["delta_std"]),
                "late costs little": bool(late_little),
                "all costs more": bool(all_a_lot),
            }
        )
    evidence = pd.DataFrame(rows)
    if evidence.empty:
        return Verdict(name, NOT_TESTED, f"no pattern at sparsity >= {high_sparsity} was run at both 'late' and 'all'")
    hits = int((evidence["late costs little"] & evidence["all costs more"]).sum())
    verdict = _tally(hits, len(evidence))
    reason = f"{hits} of {len(evidence)} task x pattern pairs show both (late drop < {negligible_drop} or within 2 SE; all-layer drop larger by > {negligible_drop} and > 2 SE)"
    return Verdict(name, verdict, reason + _seed_caveat(evidence), evidence)


def least_damaging_patterns(summary: pd.DataFrame, placement: str = "all") -> Verdict:
    """Finding 2: of syntax / lexical / neighbour / random (masked at ``placement``), neighbour and
    random are the two least damaging. Per task: supported when the two best kinds are exactly
    {neighbour, random}, partly when one of them is in the top two; the report also says whether
    the second and third places are separated by more than 2 standard errors."""
    name = "2. Neighbour and random are the least damaging of syntax / lexical / neighbour / random"
    cells = summary[(summary["placement"] == placement) & summary["kind"].isin(PAPER_KINDS)]
    rows, verdicts = [], []
    for task, rows_of_task in cells.groupby("task"):
        # one cell per kind: its alphabetically first pattern (in the shipped configs, the one
        # named after the kind; matched controls are a kind of their own)
        best_per_kind = rows_of_task.sort_values("pattern").groupby("kind").first()
        if len(best_per_kind) < len(PAPER_KINDS):
            continue
        ranked = best_per_kind.sort_values("delta_vs_dense", ascending=False)
        top_two = set(ranked.index[:2])
        second, third = ranked.iloc[1], ranked.iloc[2]
        separated = (second["delta_vs_dense"] - third["delta_vs_dense"]) > 2 * np.hypot(second["delta_std"], third["delta_std"])
        overlap = len(top_two & {"neighbour", "random"})
        verdicts.append({2: SUPPORTED, 1: PARTLY, 0: NOT_SUPPORTED}[overlap])
        rows.append(
            {
                "task": task,
                "ranking (least damage first)": " > ".join(ranked.index),
                **{kind: _fmt(ranked.loc[kind, "delta_vs_dense"], ranked.loc[kind, "delta_std"]) for kind in PAPER_KINDS},
                "seeds": int(ranked["seeds"].min()),
                "2nd vs 3rd beyond noise": bool(separated),
            }
        )
    evidence = pd.DataFrame(rows)
    if evidence.empty:
        return Verdict(name, NOT_TESTED, f"the four kinds were not all run at placement '{placement}' on one task")
    verdict = _combine(verdicts)
    reason = f"per task, the two kinds with the smallest drop at placement '{placement}' (deltas vs dense, mean ± SE)"
    return Verdict(name, verdict, reason + _seed_caveat(evidence), evidence)


_DEGREE = re.compile(r"(\w+)=(\d+)")


def parse_degrees(text) -> dict[str, int]:
    """'g=1 w=3 r=0' -> {'g': 1, 'w': 3, 'r': 0} (the aggregate table's degrees column)."""
    return {key: int(value) for key, value in _DEGREE.findall(str(text))} if isinstance(text, str) else {}


def removing_neighbour_hurts_most(summary: pd.DataFrame, placement: str = "all") -> Verdict:
    """Finding 3: among BigBird's global, neighbour and random components, removing neighbour costs
    the most. For every BigBird cell with g, w, r > 0 whose three one-component-removed variants
    were run (same other degrees, same placement), compare the three drops; supported when
    removing w gives the largest drop at every such point."""
    name = "3. Among BigBird components, removing neighbour hurts most"
    bigbird = summary[(summary["kind"] == "bigbird") & (summary["placement"] == placement)].copy()
    bigbird["parsed"] = bigbird["degrees"].map(parse_degrees)
    by_degrees = {tuple(sorted(d.items())): row for d, (_, row) in zip(bigbird["parsed"], bigbird.iterrows()) if d}
    rows = []
    for key, full in by_degrees.items():
        degrees = dict(key)
        if set(degrees) != {"g", "w", "r"} or min(degrees.values()) == 0:
            continue
        removed = {}
        for component in ("g", "w", "r"):
            variant = tuple(sorted({**degrees, component: 0}.items()))
            if variant in by_degrees:
                removed[component] = by_degrees[variant]
        if len(removed) < 3:
            continue
        drops = {c: full["score_mean"] - removed[c]["score_mean"] for c in removed}
        ses = {c: float(np.hypot(full["score_std"] / np.sqrt(full["seeds"]), removed[c]["score_std"] / np.sqrt(removed[c]["seeds"]))) for c in removed}
        worst = max(drops, key=drops.get)
        rows.append(
            {
                "task": full["task"],
                "full": full["degrees"],
                "sparsity (full)": full["sparsity_mean"],
                **{f"drop without {c}": _fmt(drops[c], ses[c]) for c in ("g", "w", "r")},
                "largest drop": worst,
                "seeds": int(full["seeds"]),
            }
        )
    evidence = pd.DataFrame(rows)
    if evidence.empty:
        return Verdict(name, NOT_TESTED, "no BigBird point was run together with all three of its one-component-removed variants")
    hits = int((evidence["largest drop"] == "w").sum())
    reason = f"at {hits} of {len(evidence)} BigBird points, removing the neighbour window (w) costs more than removing global (g) or random (r) links"
    return Verdict(name, _tally(hits, len(evidence)), reason + _seed_caveat(evidence), evidence)


def learned_beats_bigbird(summary: pd.DataFrame, learned: pd.DataFrame | None, high_sparsity: float = 0.75) -> Verdict:
    """Finding 4: learned neighbour degrees dominate fixed BigBird patterns at high sparsity.

    For each task and BigBird cell with sparsity >= high_sparsity: is there a learned point (mean
    over seeds) with at least its sparsity and at least its score? Supported when every such
    BigBird point is dominated, partly when some are."""
    name = "4. Learned neighbour degrees dominate fixed BigBird patterns at high sparsity"
    if learned is None or learned.empty:
        return Verdict(name, NOT_TESTED, "no learned-sparsity run (experiment 3) in this config")
    bigbird = summary[(summary["kind"] == "bigbird") & (summary["sparsity_mean"] >= high_sparsity)]
    rows = []
    for _, point in bigbird.iterrows():
        frontier = learned[learned["task"] == point["task"]]
        candidates = frontier[frontier["sparsity_mean"] >= point["sparsity_mean"]]
        best = candidates.loc[candidates["score_mean"].idxmax()] if not candidates.empty else None
        rows.append(
            {
                "task": point["task"],
                "bigbird": f"{point['degrees']} ({point['placement']})",
                "bigbird sparsity": point["sparsity_mean"],
                "bigbird score": point["score_mean"],
                "best learned at >= that sparsity": "" if best is None else f"{best['score_mean']:.3f} at {best['sparsity_mean']:.3f} ({best['variant']}, {best['setting']})",
                "dominated": bool(best is not None and best["score_mean"] >= point["score_mean"]),
            }
        )
    evidence = pd.DataFrame(rows)
    if evidence.empty:
        return Verdict(name, NOT_TESTED, f"no BigBird point reached sparsity >= {high_sparsity}")
    hits = int(evidence["dominated"].sum())
    reason = f"{hits} of {len(evidence)} BigBird points at sparsity >= {high_sparsity} have a learned point at least as sparse and at least as accurate"
    return Verdict(name, _tally(hits, len(evidence)), reason, evidence)


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
    from .attention import resolve_placement  # torch and transformers: only when this section is built

    rows = []
    for _, cell in summary[summary["kind"] != "dense"].iterrows():
        mass = retained[(retained["task"] == cell["task"]) & (retained["pattern"] == cell["pattern"])]
        if mass.empty:
            continue
        per_layer = mass.groupby("layer")["retained_mass"].mean()
        layers = sorted(resolve_placement(cell["placement"], len(per_layer)))
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


def _combine(verdicts: list[str]) -> str:
    if not verdicts:
        return NOT_TESTED
    if all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    if all(v == NOT_SUPPORTED for v in verdicts):
        return NOT_SUPPORTED
    return PARTLY


def _seed_caveat(evidence: pd.DataFrame) -> str:
    if "seeds" in evidence and (evidence["seeds"] < 2).any():
        return "; with one seed the spread is unknown (± 0), so no difference can be told from noise"
    return ""


def dense_stability(summary: pd.DataFrame) -> pd.DataFrame:
    dense = summary[summary["kind"] == "dense"]
    return dense[["task", "metric", "seeds", "score_mean", "score_std"]].reset_index(drop=True)


def all_verdicts(summary: pd.DataFrame, learned: pd.DataFrame | None = None, negligible_drop: float = 0.01, high_sparsity: float = 0.75) -> list[Verdict]:
    return [
        late_vs_all_layers(summary, negligible_drop, high_sparsity),
        least_damaging_patterns(summary),
        removing_neighbour_hurts_most(summary),
        learned_beats_bigbird(summary, learned, high_sparsity),
    ]


def render_report(verdicts: list[Verdict], summary: pd.DataFrame, extra_sections: list[str] = ()) -> str:
    from .aggregate import to_markdown

    lines = ["# Findings", "", "Generated by the pipeline from results/tables/summary.csv; deltas are vs the dense baseline of the same task (mean ± standard error over seeds).", ""]
    lines += ["| finding | verdict |", "| --- | --- |"]
    lines += [f"| {v.finding} | **{v.verdict}** |" for v in verdicts]
    lines += ["", "## Dense baseline across seeds", "", to_markdown(dense_stability(summary))]
    for v in verdicts:
        lines += [f"## {v.finding}", "", f"**{v.verdict}**: {v.reason}.", ""]
        if not v.evidence.empty:
            lines.append(to_markdown(v.evidence, float_format="{:.3f}"))
    lines += list(extra_sections)
    return "\n".join(lines) + "\n"
