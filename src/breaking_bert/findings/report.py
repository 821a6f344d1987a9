"""The report: every verdict with its evidence, the rule stated at the top, and the sections beyond
the paper (retained attention mass against damage, the dense baseline's stability)."""

from __future__ import annotations

import pandas as pd

from ..stats.decision import RULE_TEXT
from ..vocabulary import BASELINE_KIND, placement_layers
from .cells import HIGH_SPARSITY, NEGLIGIBLE_DROP, SPARSITY_TOLERANCE, Verdict
from .fixed import late_vs_all_layers, least_damaging_patterns, removing_neighbour_hurts_most
from .learned import irregular_beats_regular, learned_beats_bigbird, learning_beats_its_frozen_control


def retained_mass_vs_damage(summary: pd.DataFrame, retained: pd.DataFrame) -> pd.DataFrame:
    """Per sparse cell: the mean retained dense attention mass over the layers it masks (a
    prediction made before finetuning) and how many layers it masks, beside its measured delta vs
    dense."""

    rows = []
    for _, cell in summary[summary["kind"] != BASELINE_KIND].iterrows():
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
                "masked layers": len(layers),
                "retained_mass": float(per_layer.loc[layers].mean()),
                # what the masked layers lose, summed: a placement that masks more layers loses more
                "lost_mass_sum": float((1 - per_layer.loc[layers]).sum()),
                "effective_sparsity": cell.get("effective_sparsity_mean", float("nan")),
                "delta_vs_dense": cell["delta_vs_dense"],
            }
        )
    return pd.DataFrame(rows)


def _within(values: pd.Series, groups: pd.Series) -> pd.Series:
    """``values`` less their group's mean: what is left with the group held out, whatever its shape."""
    return values - values.groupby(groups).transform("mean")


def mass_and_damage(cells: pd.DataFrame) -> str:
    """How the mass a cell's masks lose per masked layer relates to its drop, with the number of
    masked layers held out: that number drives both the summed loss and the drop, so a correlation
    of the two sums says little. Over the single-layer placements alone (one layer each), and over
    all cells partialled on the number of masked layers. Correlations of means, with no interval."""
    # a cell that masks nothing the classifier reads (the last layer alone) has no effect to predict
    inert = cells["effective_sparsity"].fillna(1) <= 0 if "effective_sparsity" in cells else cells["delta_vs_dense"].isna()
    cells = cells[~inert]
    lost = 1 - cells["retained_mass"]
    parts = []
    single = cells[cells["masked layers"] == 1]
    if len(single) >= 3 and single["delta_vs_dense"].std() > 0:
        parts.append(f"over its {len(single)} single-layer cells, mass lost at that layer against the delta vs dense: "
                     f"Spearman {(1 - single['retained_mass']).rank().corr(single['delta_vs_dense'].rank()):+.2f}")
    counts = cells["masked layers"]
    if len(cells) >= 4 and counts.nunique() < len(cells):
        partial = _within(lost, counts).corr(_within(cells["delta_vs_dense"], counts))
        held = ("within groups of equal numbers of masked layers" if counts.nunique() > 1 else
                f"every cell masking {int(counts.iloc[0])} layers (so nothing is held out)")
        parts.append(f"over all {len(cells)} cells, mean mass lost per masked layer against the delta, {held}: "
                     f"Pearson {partial:+.2f}")
    if not parts:
        return "too few cells to relate mass to damage with the number of masked layers held out"
    left_out = f"; {int(inert.sum())} cell(s) masking nothing the classifier reads left out" if inert.any() else ""
    return ("; ".join(parts) + " (negative: losing more mass goes with a larger drop; correlations of means, no "
            "interval; sparsity is not held out, so cells that mask more also lose more mass and may drop more for "
            f"that alone{left_out})")


def retained_mass_section(summary: pd.DataFrame, retained: pd.DataFrame | None, cost: pd.DataFrame | None) -> str:
    """Beyond the paper: does retained attention mass predict the damage? And what does each
    pattern cost?"""
    from ..tables import to_markdown

    lines = ["## Beyond the paper: what each pattern keeps and costs", ""]
    if retained is not None and not retained.empty:
        table = retained_mass_vs_damage(summary, retained)
        for task, cells in table.groupby("task"):
            lines.append(f"- {task}: {mass_and_damage(cells)}.")
        lines += ["", to_markdown(table, float_format="{:.3f}")]
    if cost is not None and not cost.empty:
        lines += ["Cost of each pattern on its task's eval split (fractions of dense; block columns: share of kernel blocks with any allowed pair, which a block-sparse kernel must compute):", "", to_markdown(cost, float_format="{:.3f}")]
    return "\n".join(lines)


def ineffective_placements(summary: pd.DataFrame) -> list[str]:
    """Lines naming the sparse cells whose placement masks no connection that reaches the
    classifier (effective sparsity 0: the last layer alone, under the [CLS]-global policy)."""
    if "effective_sparsity_mean" not in summary:
        return []
    sparse = summary[(summary["kind"] != BASELINE_KIND) & (summary["sparsity_mean"] > 0)]
    idle = sparse[sparse["effective_sparsity_mean"] == 0]
    if idle.empty:
        return []
    cells = ", ".join(f"{row.task}/{row.pattern}/{row.placement}" for row in idle.itertuples())
    return [f"**Placements that mask nothing the classifier sees** (effective sparsity 0, docs/MASKS.md): {cells}. "
            "Their runs train the dense model (up to float rounding); they are no evidence about that layer.", ""]


def dense_stability(summary: pd.DataFrame) -> pd.DataFrame:
    dense = summary[summary["kind"] == BASELINE_KIND]
    return dense[["task", "metric", "seeds", "score_mean", "score_std"]].reset_index(drop=True)


def all_verdicts(runs: pd.DataFrame, learned_runs: pd.DataFrame | None = None, negligible_drop: float = NEGLIGIBLE_DROP,
                 high_sparsity: float = HIGH_SPARSITY, sparsity_tolerance: float = SPARSITY_TOLERANCE) -> list[Verdict]:
    return [
        late_vs_all_layers(runs, negligible_drop, high_sparsity),
        least_damaging_patterns(runs, sparsity_tolerance=sparsity_tolerance),
        removing_neighbour_hurts_most(runs, sparsity_tolerance),
        learned_beats_bigbird(runs, learned_runs, high_sparsity),
    ] + ([irregular_beats_regular(learned_runs), learning_beats_its_frozen_control(learned_runs)] if learned_runs is not None else [])


def judge_with(thresholds: dict):
    """judge(runs, learned_runs) -> every verdict, at the config's thresholds (findings.*)."""
    def judge(runs, learned_runs):
        return all_verdicts(runs, learned_runs, thresholds["negligible_drop"], thresholds["high_sparsity"],
                            thresholds["sparsity_tolerance"])
    return judge


def design_verdicts(seeds, runs: pd.DataFrame, learned_runs: pd.DataFrame | None, thresholds: dict) -> list[Verdict]:
    """Every verdict under the config's design (``seeds``: a list, or {initial, max, step}): of a
    sequential design, each cell as judged at the look that decided it (sequential.judge_looks)."""
    from ..stats.sequential import Design, judge_looks

    return judge_looks(Design.from_config(seeds), runs, learned_runs, judge_with(thresholds))


def render_report(verdicts: list[Verdict], summary: pd.DataFrame, extra_sections: list[str] = (), seeds=None,
                  warnings: list[str] = ()) -> str:
    """The report; ``warnings``: lines set under the verdict table (e.g. collapsed runs)."""
    from ..tables import to_markdown
    from ..stats.sequential import SEQUENTIAL_RULE_TEXT, Design

    design = Design.from_config(seeds) if seeds is not None else None
    rule = [RULE_TEXT, "", SEQUENTIAL_RULE_TEXT.format(design=design.describe())] if design and design.sequential else [RULE_TEXT]
    lines = ["# Findings", "", "Generated by the pipeline from results/<config>/tables/runs.csv; differences are in metric units, "
             "each with its 95% interval in brackets (at a look of a sequential design, the interval of that "
             "look's level). Where the runs kept their eval predictions an interval covers the sampling of the "
             "eval set as well as the seeds' (its text names the eval set's standard error), so its verdict is "
             "about the task; one marked 'about this eval set only' covers the seeds alone.",
             "", *rule, ""]
    lines += ["| finding | verdict |", "| --- | --- |"]
    lines += [f"| {v.finding} | **{v.verdict}** |" for v in verdicts]
    lines += ["", *warnings, *ineffective_placements(summary), "## Dense baseline across seeds", "",
              to_markdown(dense_stability(summary))]
    for v in verdicts:
        lines += [f"## {v.finding}", "", f"**{v.verdict}**: {v.reason}.", ""]
        if not v.evidence.empty:
            lines.append(to_markdown(v.evidence, float_format="{:.3f}"))
    lines += list(extra_sections)
    return "\n".join(lines) + "\n"
