"""The findings verdicts on constructed summary tables (one per finding, each way it can go)."""

import pandas as pd
import pytest

from breaking_bert.aggregate import summarize
from breaking_bert.findings import (
    NOT_SUPPORTED,
    NOT_TESTED,
    PARTLY,
    SUPPORTED,
    late_vs_all_layers,
    learned_beats_bigbird,
    least_damaging_patterns,
    parse_degrees,
    removing_neighbour_hurts_most,
    render_report,
    all_verdicts,
    retained_mass_vs_damage,
)

DENSE = [0.80, 0.81, 0.82]


def _runs(cells, task="t"):
    """cells: {(pattern, kind, placement, degrees, sparsity): [score per seed]} plus the dense baseline."""
    rows = [{"task": task, "pattern": "dense", "kind": "dense", "placement": "none", "degrees": "", "seed": s,
             "metric": "accuracy", "score": v, "sparsity_mean": 0.0, "train_samples_per_second": 1.0}
            for s, v in enumerate(DENSE)]
    for (pattern, kind, placement, degrees, sparsity), scores in cells.items():
        rows += [{"task": task, "pattern": pattern, "kind": kind, "placement": placement, "degrees": degrees,
                  "seed": s, "metric": "accuracy", "score": v, "sparsity_mean": sparsity,
                  "train_samples_per_second": 1.0} for s, v in enumerate(scores)]
    return summarize(pd.DataFrame(rows))


def _placements(late, every, pattern="neighbour", sparsity=0.78):
    return {(pattern, pattern, "late", "w=2", sparsity): late, (pattern, pattern, "all", "w=2", sparsity): every}


def test_finding_1_supported_when_late_is_free_and_all_costs():
    summary = _runs(_placements([0.80, 0.81, 0.815], [0.70, 0.71, 0.72]))
    assert late_vs_all_layers(summary).verdict == SUPPORTED


def test_finding_1_not_supported_when_all_layers_cost_no_more_than_late():
    summary = _runs(_placements([0.70, 0.71, 0.72], [0.70, 0.715, 0.72]))
    verdict = late_vs_all_layers(summary)
    assert verdict.verdict == NOT_SUPPORTED
    assert not verdict.evidence["late costs little"].any()


def test_finding_1_ignores_cells_below_the_sparsity_threshold_and_says_not_tested():
    summary = _runs(_placements([0.80, 0.81, 0.82], [0.70, 0.71, 0.72], sparsity=0.5))
    assert late_vs_all_layers(summary, high_sparsity=0.75).verdict == NOT_TESTED


def test_finding_1_partly_when_one_of_two_patterns_shows_it():
    cells = {**_placements([0.80, 0.81, 0.815], [0.70, 0.71, 0.72]),
             **_placements([0.70, 0.71, 0.72], [0.70, 0.71, 0.72], pattern="random")}
    assert late_vs_all_layers(_runs(cells)).verdict == PARTLY


def _four(scores):
    return {(kind, kind, "all", "k=1", 0.78): [s - 0.01, s, s + 0.01] for kind, s in scores.items()}


def test_finding_2_ranks_kinds_by_drop():
    supported = least_damaging_patterns(_runs(_four({"neighbour": 0.78, "random": 0.77, "syntax": 0.70, "lexical": 0.68})))
    assert supported.verdict == SUPPORTED
    assert supported.evidence["ranking (least damage first)"].iloc[0].startswith("neighbour > random")
    assert bool(supported.evidence["2nd vs 3rd beyond noise"].iloc[0])
    partly = least_damaging_patterns(_runs(_four({"neighbour": 0.78, "random": 0.60, "syntax": 0.77, "lexical": 0.68})))
    assert partly.verdict == PARTLY
    against = least_damaging_patterns(_runs(_four({"neighbour": 0.60, "random": 0.61, "syntax": 0.77, "lexical": 0.78})))
    assert against.verdict == NOT_SUPPORTED


def test_finding_2_not_tested_without_all_four_kinds():
    summary = _runs(_four({"neighbour": 0.78, "random": 0.77, "syntax": 0.70}))
    assert least_damaging_patterns(summary).verdict == NOT_TESTED


def _bigbird(full, no_g, no_w, no_r):
    grid = {"g=1 w=2 r=2": full, "g=0 w=2 r=2": no_g, "g=1 w=0 r=2": no_w, "g=1 w=2 r=0": no_r}
    return {(f"bb_{d.replace(' ', '_')}", "bigbird", "all", d, 0.6): [s - 0.005, s, s + 0.005] for d, s in grid.items()}


def test_finding_3_compares_the_three_one_component_removals():
    supported = removing_neighbour_hurts_most(_runs(_bigbird(0.80, 0.79, 0.70, 0.78)))
    assert supported.verdict == SUPPORTED and supported.evidence["largest drop"].tolist() == ["w"]
    against = removing_neighbour_hurts_most(_runs(_bigbird(0.80, 0.70, 0.78, 0.79)))
    assert against.verdict == NOT_SUPPORTED and against.evidence["largest drop"].tolist() == ["g"]
    missing = {k: v for k, v in _bigbird(0.8, 0.7, 0.7, 0.7).items() if k[3] != "g=1 w=2 r=0"}
    assert removing_neighbour_hurts_most(_runs(missing)).verdict == NOT_TESTED
    assert parse_degrees("g=1 w=12 r=0") == {"g": 1, "w": 12, "r": 0}


def test_finding_4_dominance_at_high_sparsity():
    cells = {("bb_a", "bigbird", "all", "g=1 w=1 r=1", 0.80): [0.70, 0.71, 0.72],
             ("bb_b", "bigbird", "all", "g=1 w=0 r=1", 0.86): [0.60, 0.61, 0.62],
             ("bb_c", "bigbird", "all", "g=1 w=4 r=4", 0.50): [0.80, 0.80, 0.80]}  # not highly sparse: ignored
    summary = _runs(cells)

    def learned(points):
        return pd.DataFrame([{"task": "t", "variant": "regular", "setting": f"target{s}", "seeds": 3,
                              "score_mean": score, "score_std": 0.01, "sparsity_mean": s} for s, score in points])

    assert learned_beats_bigbird(summary, learned([(0.82, 0.75), (0.88, 0.65)])).verdict == SUPPORTED
    partly = learned_beats_bigbird(summary, learned([(0.82, 0.75), (0.88, 0.55)]))
    assert partly.verdict == PARTLY and partly.evidence["dominated"].tolist() == [True, False]
    assert learned_beats_bigbird(summary, learned([(0.70, 0.9)])).verdict == NOT_SUPPORTED  # not sparse enough
    assert learned_beats_bigbird(summary, None).verdict == NOT_TESTED


def test_one_seed_runs_say_that_the_spread_is_unknown():
    summary = _runs({("neighbour", "neighbour", "late", "w=2", 0.78): [0.80],
                     ("neighbour", "neighbour", "all", "w=2", 0.78): [0.70]})
    assert "one seed" in late_vs_all_layers(summary).reason


def test_report_lists_every_finding_with_its_verdict():
    summary = _runs({**_placements([0.80, 0.81, 0.815], [0.70, 0.71, 0.72]), **_bigbird(0.80, 0.79, 0.70, 0.78)})
    report = render_report(all_verdicts(summary), summary)
    for number in "1234":
        assert f"| {number}. " in report
    assert "**supported**" in report and "**not tested**" in report


def test_retained_mass_predictor_averages_the_masked_layers():
    summary = _runs(_placements([0.80, 0.81, 0.815], [0.70, 0.71, 0.72]))
    retained = pd.DataFrame([{"task": "t", "pattern": "neighbour", "layer": layer, "head": head,
                              "retained_mass": [0.2, 0.4, 0.6, 0.8][layer]} for layer in range(4) for head in range(2)])
    table = retained_mass_vs_damage(summary, retained).set_index("placement")
    assert table.loc["late", "retained_mass"] == pytest.approx(0.7)
    assert table.loc["all", "retained_mass"] == pytest.approx(0.5)
    assert table.loc["all", "lost_mass_sum"] == pytest.approx(2.0)
