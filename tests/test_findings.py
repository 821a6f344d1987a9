"""The findings verdicts on constructed per-seed tables (one per finding, each way it can go)."""

import pandas as pd
import pytest

from breaking_bert.aggregate import summarize
from breaking_bert.vocabulary import grid_point_name, parse_degrees
from breaking_bert.findings import (
    CANNOT_TELL,
    NOT_SUPPORTED,
    NOT_TESTED,
    PARTLY,
    SUPPORTED,
    late_vs_all_layers,
    learned_beats_bigbird,
    least_damaging_patterns,
    removing_neighbour_hurts_most,
    render_report,
    all_verdicts,
    frontier_at,
    irregular_beats_regular,
    learning_beats_its_frozen_control,
    retained_mass_vs_damage,
)
from runs_tables import DENSE, _bigbird, _four, _learned, _placements, _runs, _spread  # noqa: F401


def test_finding_1_supported_when_late_is_free_and_all_costs():
    summary = _runs(_placements([0.80, 0.81, 0.815], [0.70, 0.71, 0.72]))
    assert late_vs_all_layers(summary).verdict == SUPPORTED


def test_finding_1_not_supported_when_all_layers_cost_no_more_than_late():
    summary = _runs(_placements(_spread(0.71, 1), [0.70, 0.715, 0.72]))
    verdict = late_vs_all_layers(summary)
    assert verdict.verdict == NOT_SUPPORTED
    assert verdict.evidence["late costs little"].tolist() == [NOT_SUPPORTED]


def test_finding_1_ignores_cells_below_the_sparsity_threshold_and_says_not_tested():
    summary = _runs(_placements([0.80, 0.81, 0.82], [0.70, 0.71, 0.72], sparsity=0.5))
    assert late_vs_all_layers(summary, high_sparsity=0.75).verdict == NOT_TESTED


def test_finding_1_partly_when_one_of_two_patterns_shows_it():
    # neighbour's late cell clearly within a point of dense, so its support survives Holm over 2 cells
    cells = {**_placements([0.805, 0.812, 0.821], [0.70, 0.71, 0.72]),
             **_placements(_spread(0.71, 1), _spread(0.71, 2), pattern="random")}
    assert late_vs_all_layers(_runs(cells)).verdict == PARTLY


def test_finding_2_ranks_kinds_by_drop():
    supported = least_damaging_patterns(_runs(_four({"neighbour": 0.78, "random": 0.77, "syntax": 0.70, "lexical": 0.68})))
    assert supported.verdict == SUPPORTED
    assert supported.evidence["ranking (least damage first, sparsity)"].iloc[0].startswith("neighbour (0.780) > random")
    one_of_two = least_damaging_patterns(_runs(_four({"neighbour": 0.78, "random": 0.60, "syntax": 0.77, "lexical": 0.68})))
    assert one_of_two.verdict == NOT_SUPPORTED, "random scores below syntax: the claim is refuted"
    against = least_damaging_patterns(_runs(_four({"neighbour": 0.60, "random": 0.61, "syntax": 0.77, "lexical": 0.78})))
    assert against.verdict == NOT_SUPPORTED


def test_finding_2_not_tested_without_all_four_kinds():
    summary = _runs(_four({"neighbour": 0.78, "random": 0.77, "syntax": 0.70}))
    assert least_damaging_patterns(summary).verdict == NOT_TESTED


def test_finding_3_compares_the_three_one_component_removals():
    supported = removing_neighbour_hurts_most(_runs(_bigbird(0.80, 0.79, 0.70, 0.78)))
    assert supported.verdict == SUPPORTED and supported.evidence["largest drop"].tolist() == ["w"]
    against = removing_neighbour_hurts_most(_runs(_bigbird(0.80, 0.70, 0.78, 0.79)))
    assert against.verdict == NOT_SUPPORTED and against.evidence["largest drop"].tolist() == ["g"]
    missing = {k: v for k, v in _bigbird(0.8, 0.7, 0.7, 0.7).items() if k[3] != "g=1 w=2 r=0"}
    assert removing_neighbour_hurts_most(_runs(missing)).verdict == NOT_TESTED


def test_finding_4_compares_full_bigbird_points_with_the_learned_frontier_at_their_sparsity():
    cells = {("bb_a", "bigbird", "all", "g=1 w=1 r=1", 0.80): [0.70, 0.71, 0.72],
             ("bb_b", "bigbird", "all", "g=1 w=0 r=1", 0.86): [0.40, 0.41, 0.42],  # an ablation: never a BigBird point
             ("bb_c", "bigbird", "all", "g=1 w=4 r=4", 0.50): [0.80, 0.80, 0.80]}  # below 0.75: listed, not counted
    runs = _runs(cells)
    frontier = _learned([(0.30, [0.8, 0.8, 0.8]), (0.78, [0.76, 0.775, 0.78]), (0.82, [0.75, 0.765, 0.77])])
    assert frontier_at(frontier, "t", "regular", {0: 0.80, 1: 0.79, 2: 0.99}) == pytest.approx({0: 0.755, 1: 0.7725})
    supported = learned_beats_bigbird(runs, frontier)
    assert supported.verdict == SUPPORTED
    assert supported.evidence["bigbird"].tolist() == ["bb_c (g=1 w=4 r=4)", "bb_a (g=1 w=1 r=1)"]
    assert "not counted" in supported.evidence["verdict"].iloc[0]
    assert "+0.057" in supported.evidence["learned frontier at that sparsity"].iloc[1], "interpolated: 0.755-0.70 etc."
    against = learned_beats_bigbird(runs, _learned([(0.78, [0.60, 0.62, 0.61]), (0.82, [0.60, 0.62, 0.61])]))
    assert against.verdict == NOT_SUPPORTED
    unclear = learned_beats_bigbird(runs, _learned([(0.78, [0.72, 0.75, 0.74]), (0.82, [0.72, 0.75, 0.74])]))
    assert unclear.verdict == CANNOT_TELL and "seeds would give 80% power" in unclear.evidence["why"].iloc[1]
    outside = learned_beats_bigbird(runs, _learned([(0.82, [0.9, 0.9, 0.9]), (0.9, [0.9, 0.9, 0.9])]))
    assert outside.verdict == CANNOT_TELL and "outside the regular frontier (0.820-0.900)" in outside.evidence["why"].iloc[1]
    assert learned_beats_bigbird(runs, None).verdict == NOT_TESTED
    ablations_only = _runs({("bb_b", "bigbird", "all", "g=1 w=0 r=1", 0.86): [0.40, 0.41, 0.42]})
    assert learned_beats_bigbird(ablations_only, _learned([(0.8, [0.8] * 3), (0.9, [0.8] * 3)])).verdict == NOT_TESTED


def test_a_collapsed_run_counts_against_a_claim_and_never_for_it():
    """A run that predicted one class for every example (COLLAPSED) counts like any run where its
    collapse works against the claim (a pattern's cost includes its failed runs), and bars the
    claim where it would work for it (a broken baseline): cannot tell, no seeds asked for that part.
    The frontier's interpolated score carries the collapse of the points it uses."""
    from breaking_bert.stats.differences import COLLAPSED

    runs = _runs(_placements([0.80, 0.81, 0.815], [0.70, 0.71, 0.72]))
    assert late_vs_all_layers(runs.assign(**{COLLAPSED: False})).verdict == SUPPORTED
    # 'all costs more' (all - late below the margin): a collapsed 'all' run would push it the claim's way
    found = late_vs_all_layers(runs.assign(**{COLLAPSED: (runs["placement"] == "all") & (runs["seed"] == 1)}))
    assert found.verdict == CANNOT_TELL and found.evidence["all costs more"].iloc[0] == CANNOT_TELL
    assert found.evidence["late costs little"].iloc[0] == SUPPORTED
    assert "first cell's run(s) of seed(s) [1] predicted one class" in found.evidence["why"].iloc[0]
    # a collapsed 'late' run works against 'late costs little' and for nothing else here: counted
    counted = late_vs_all_layers(runs.assign(**{COLLAPSED: (runs["placement"] == "late") & (runs["seed"] == 0)}))
    assert "seed(s) [0] collapsed, counted" in counted.evidence["why"].iloc[0]
    assert counted.evidence["late costs little"].iloc[0] == SUPPORTED, "its score, as it is, still clears the margin"
    # all - late below the margin: a collapsed late run (the second cell) works against that claim too
    assert counted.verdict == SUPPORTED and "seed(s) [0] collapsed, counted" in counted.cells[0].why.split("; ")[1]
    points = {("bb_a", "bigbird", "all", "g=1 w=1 r=1", 0.80): [0.70, 0.71, 0.72]}
    frontier = _learned([(0.78, [0.76, 0.775, 0.78]), (0.82, [0.75, 0.765, 0.77])])
    assert learned_beats_bigbird(_runs(points), frontier).verdict == SUPPORTED
    collapsed_frontier = frontier.assign(**{COLLAPSED: (frontier["setting"] == "target0.82") & (frontier["seed"] == 2)})
    assert frontier_at(collapsed_frontier, "t", "regular", {0: 0.80, 2: 0.80}).collapsed == {2}
    assert learned_beats_bigbird(_runs(points), collapsed_frontier).verdict == SUPPORTED, "the frontier's own: counted"
    broken_point = _runs(points)
    broken_point = broken_point.assign(**{COLLAPSED: (broken_point["pattern"] == "bb_a") & (broken_point["seed"] == 0)})
    assert learned_beats_bigbird(broken_point, frontier).verdict == CANNOT_TELL, "a broken point favours the frontier"
    outside_its_span = collapsed_frontier.assign(effective_sparsity_mean=collapsed_frontier["effective_sparsity_mean"] - 0.02)
    assert not frontier_at(outside_its_span, "t", "regular", {2: 0.76}).collapsed, "a point given no weight is not read"


def test_finding_4_compares_at_equal_effective_sparsity():
    """Learned runs that parked sparsity in the last layer look sparser than they are: at the
    paper's sparsity they would be compared with the wrong BigBird point."""
    runs = _runs({("bb", "bigbird", "all", "g=1 w=1 r=1", 0.80): [0.70, 0.71, 0.72]}, effective={"bb": 0.78})
    # effective 0.74 and 0.82 (the paper's sparsity says 0.765 and 0.845): at effective 0.78 the
    # frontier scores 0.75; at the paper's 0.80 it would be read at effective 0.775 instead
    frontier = _learned([(0.74, [0.80, 0.80, 0.80]), (0.82, [0.70, 0.70, 0.70])], parked=0.025)
    verdict = learned_beats_bigbird(runs, frontier)
    assert verdict.evidence["bigbird effective sparsity"].tolist() == pytest.approx([0.78])
    assert "+0.040" in verdict.evidence["learned frontier at that sparsity"].iloc[0], "0.75 - 0.71, read at 0.78"


def test_irregular_is_judged_against_the_regular_frontier_at_equal_sparsity():
    regular = _learned([(0.70, [0.80, 0.81, 0.80]), (0.90, [0.70, 0.71, 0.70])])  # frontier at 0.8: 0.75, 0.76, 0.75
    better = pd.concat([regular, _learned([(0.80, [0.78, 0.785, 0.79])], variant="irregular")])
    worse = pd.concat([regular, _learned([(0.80, [0.70, 0.705, 0.71])], variant="irregular")])
    unclear = pd.concat([regular, _learned([(0.80, [0.74, 0.77, 0.755])], variant="irregular")])
    assert irregular_beats_regular(better).verdict == SUPPORTED
    assert irregular_beats_regular(worse).verdict == NOT_SUPPORTED
    assert irregular_beats_regular(unclear).verdict == CANNOT_TELL
    assert irregular_beats_regular(regular).verdict == NOT_TESTED
    assert any(v.finding.startswith("Irregular") for v in all_verdicts(_runs({}), better))


def test_the_frozen_window_control_says_whether_learning_the_windows_adds_to_them():
    learned = _learned([(0.78, [0.76, 0.77, 0.78])])
    def control(scores):
        return pd.concat([learned, _learned([(0.78, scores)], variant="regular_frozen")])
    assert learning_beats_its_frozen_control(control([0.70, 0.715, 0.72])).verdict == SUPPORTED
    assert learning_beats_its_frozen_control(control([0.80, 0.81, 0.83])).verdict == NOT_SUPPORTED
    assert learning_beats_its_frozen_control(control([0.75, 0.78, 0.765])).verdict == CANNOT_TELL
    assert learning_beats_its_frozen_control(learned).verdict == NOT_TESTED
    # in finding 4 a control's rows are context, never part of the verdict
    runs = _runs({("bb", "bigbird", "all", "g=1 w=1 r=1", 0.78): [0.70, 0.71, 0.72]})
    frontier = [(0.70, [0.8] * 3), (0.85, [0.8] * 3)]
    mixed = pd.concat([_learned(frontier), _learned([(0.70, [0.5] * 3), (0.85, [0.5] * 3)], variant="regular_frozen")])
    verdict = learned_beats_bigbird(runs, mixed)
    assert verdict.verdict == SUPPORTED and "control" in verdict.evidence["verdict"].iloc[1]


def test_one_seed_runs_never_give_a_definitive_verdict():
    one_seed = _runs({("neighbour", "neighbour", "late", "w=2", 0.78): [0.80],
                      ("neighbour", "neighbour", "all", "w=2", 0.78): [0.70]}, dense=[0.81])
    verdict = late_vs_all_layers(one_seed)
    assert verdict.verdict == CANNOT_TELL
    assert verdict.evidence["late - dense"].iloc[0] == "-0.010 (1 seed: no interval)"
    assert "run at least 3 seeds" in verdict.reason, "says what it would take"
    assert least_damaging_patterns(_runs(_four1({"neighbour": 0.78, "random": 0.77, "syntax": 0.50, "lexical": 0.40}),
                                         dense=[0.81])).verdict == CANNOT_TELL
    assert removing_neighbour_hurts_most(_runs(_bigbird1(0.80, 0.79, 0.50, 0.78), dense=[0.81])).verdict == CANNOT_TELL


def _four1(scores):
    return {(kind, kind, "all", "k=1", 0.78): [s] for kind, s in scores.items()}


def _bigbird1(full, no_g, no_w, no_r):
    grid = {"g=1 w=2 r=2": full, "g=0 w=2 r=2": no_g, "g=1 w=0 r=2": no_w, "g=1 w=2 r=0": no_r}
    return {(grid_point_name("bb", parse_degrees(d)), "bigbird", "all", d, 0.6): [s] for d, s in grid.items()}


def test_a_drop_within_noise_is_cannot_tell_not_costs_little():
    """-3.0 +- 2.1 points over 3 seeds: no evidence of a drop is not evidence of no drop."""
    from breaking_bert.stats.decision import decide
    from breaking_bert.stats.differences import difference

    dense = {0: 0.80, 1: 0.80, 2: 0.80}
    late = {0: 0.80 - 0.030 - 0.021, 1: 0.80 - 0.030, 2: 0.80 - 0.030 + 0.021}  # mean -0.030, std 0.021
    diff = difference(late, dense)
    assert diff.mean == pytest.approx(-0.030) and diff.std == pytest.approx(0.021)
    outcome = decide(diff, above=-0.01)
    assert outcome.verdict == CANNOT_TELL
    cells = {**_placements([v for v in late.values()], [0.60, 0.61, 0.62])}
    assert late_vs_all_layers(_runs(cells, dense=list(dense.values()))).evidence["late costs little"].tolist() == [CANNOT_TELL]


def test_the_t_interval_and_the_seeds_it_would_take():
    from breaking_bert.stats.decision import decide
    from breaking_bert.stats.differences import Difference
    from breaking_bert.stats.spending import t_critical

    assert t_critical(2) == pytest.approx(4.303, abs=1e-3) and t_critical(1) == pytest.approx(12.706, abs=1e-3)
    assert t_critical(30) == pytest.approx(2.042, abs=1e-3)
    small = Difference(mean=-0.02, std=0.01, n=3, paired=True)  # half width 4.303 * 0.01 / sqrt 3 = 0.0248
    assert small.high == pytest.approx(-0.02 + 0.02484, abs=1e-4)
    assert decide(small, below=0.0).verdict == CANNOT_TELL
    assert small.seeds_needed(0.0) == 5  # 80% power: (2.776 + 0.842) * 0.01 / sqrt 5 = 0.0162 < 0.02; n=4: 0.0201
    assert decide(Difference(-0.02, 0.01, 4, True), below=0.0).verdict == SUPPORTED
    assert decide(Difference(0.02, 0.01, 4, True), below=0.0).verdict == NOT_SUPPORTED
    with pytest.raises(ValueError):
        decide(small)


def test_finding_1_is_cannot_tell_when_the_all_layer_extra_cost_is_within_noise():
    summary = _runs(_placements([0.80, 0.81, 0.815], [0.70, 0.81, 0.76]))
    assert late_vs_all_layers(summary).verdict == CANNOT_TELL


def test_finding_2_cannot_tell_when_the_winner_kept_more_links():
    cells = {("neighbour", "neighbour", "all", "w=1", 0.76): _spread(0.78, 0),
             ("random", "random", "all", "k=1", 0.78): _spread(0.77, 1),
             ("syntax", "syntax", "all", "k=1", 0.80): _spread(0.70, 2),
             ("lexical", "lexical", "all", "k=1", 0.78): _spread(0.68, 3)}
    verdict = least_damaging_patterns(_runs(cells))
    assert verdict.verdict == CANNOT_TELL, verdict.evidence.to_dict("records")
    assert "less sparse" in verdict.evidence["comparisons"].iloc[0]
    assert least_damaging_patterns(_runs(cells), sparsity_tolerance=0.05).verdict == SUPPORTED


def test_finding_3_is_judged_per_task_and_placement():
    one = _runs(_bigbird(0.80, 0.79, 0.70, 0.78), task="a")  # removing w costs 10 points
    other = _runs(_bigbird(0.80, 0.70, 0.80, 0.79), task="b")  # removing w costs nothing; g costs most
    verdict = removing_neighbour_hurts_most(pd.concat([one, other[other["kind"] != "dense"]]))
    assert verdict.verdict == PARTLY
    assert verdict.evidence.set_index("task")["verdict"].to_dict() == {"a": SUPPORTED, "b": NOT_SUPPORTED}
    late = _runs(_bigbird(0.80, 0.79, 0.70, 0.78), task="a").replace({"placement": {"all": "late"}})
    both = removing_neighbour_hurts_most(pd.concat([one, late[late["kind"] != "dense"]]))
    assert sorted(both.evidence["placement"]) == ["all", "late"]


def test_report_lists_every_finding_with_its_verdict():
    runs = _runs({**_placements([0.80, 0.81, 0.815], [0.70, 0.71, 0.72]), **_bigbird(0.80, 0.79, 0.70, 0.78)})
    report = render_report(all_verdicts(runs), summarize(runs))
    for number in "1234":
        assert f"| {number}. " in report
    assert "**supported**" in report and "**not tested**" in report
    assert "95% t interval" in report and "cannot tell" in report, "the report states its decision rule"


def test_the_report_names_placements_that_mask_nothing_the_classifier_sees():
    cells = {("neighbour", "neighbour", "layer5", "w=2", 0.78): [0.80, 0.81, 0.82],
             ("neighbour", "neighbour", "layer4", "w=2", 0.78): [0.79, 0.80, 0.81]}
    runs = _runs(cells).assign(effective_sparsity_mean=lambda r: r["placement"].map({"layer4": 0.15}).fillna(0.0))
    report = render_report(all_verdicts(runs), summarize(runs))
    assert "mask nothing the classifier sees** (effective sparsity 0, docs/MASKS.md): t/neighbour/layer5." in report
    assert "layer4" not in report.split("classifier sees")[1].split("\n")[0]
    assert "classifier sees" not in render_report(all_verdicts(_runs({})), summarize(_runs({})))


def test_retained_mass_predictor_averages_the_masked_layers():
    summary = summarize(_runs(_placements([0.80, 0.81, 0.815], [0.70, 0.71, 0.72])))
    retained = pd.DataFrame([{"task": "t", "pattern": "neighbour", "layer": layer, "head": head,
                              "retained_mass": [0.2, 0.4, 0.6, 0.8][layer]} for layer in range(4) for head in range(2)])
    table = retained_mass_vs_damage(summary, retained).set_index("placement")
    assert table.loc["late", "retained_mass"] == pytest.approx(0.7)
    assert table.loc["all", "retained_mass"] == pytest.approx(0.5)
    assert table.loc["all", "lost_mass_sum"] == pytest.approx(2.0)


def test_mass_and_damage_holds_the_number_of_masked_layers_out():
    """Deltas driven by the number of masked layers (1, 3 or 6) and, a thousand times more weakly,
    by the mass lost per layer: the summed loss correlates with the delta because it counts layers;
    within groups of equal layer counts the small relation of the mass itself shows."""
    from breaking_bert.findings.report import mass_and_damage

    rows = []
    for layers, delta in ((1, -0.01), (3, -0.03), (6, -0.08)):
        for retained in (0.5, 0.7, 0.9):
            rows.append({"masked layers": layers, "retained_mass": retained,
                         "lost_mass_sum": layers * (1 - retained), "delta_vs_dense": delta + 0.001 * retained})
    cells = pd.DataFrame(rows)
    assert cells["lost_mass_sum"].corr(cells["delta_vs_dense"]) < -0.6, "the summed loss follows the layer count"
    text = mass_and_damage(cells)
    partial = float(text.split("numbers of masked layers: Pearson ")[1].split(" ")[0])
    assert partial < -0.99, text  # within a layer count, the mass lost is all there is to the delta
    assert "single-layer cells" in text and "no interval" in text
    assert "too few cells" in mass_and_damage(cells.head(2))


def test_where_the_eval_set_alone_keeps_the_interval_wide_the_report_asks_for_no_seeds():
    """A difference 0.005 from its bound with an eval-set se of 0.004: 2.8 x 0.004 = 0.011 > 0.005,
    so no number of seeds gives 80% power; the report said "more than 100 seeds" (a review of the
    experiment pages), as if seeds would."""
    from breaking_bert.stats.decision import decide
    from breaking_bert.stats.differences import Difference

    blocked = Difference(mean=-0.005, std=0.002, n=3, paired=True, eval_variance=0.004**2)
    assert blocked.seeds_needed(0.0) is None and blocked.eval_set_blocks(0.0)
    assert "no number of seeds would: the eval set's sampling alone (se 0.004)" in decide(blocked, below=0.0).why
    slow = Difference(mean=-0.005, std=0.05, n=3, paired=True)  # no eval part: seeds would, past 100
    assert slow.seeds_needed(0.0) is None and not slow.eval_set_blocks(0.0)
    assert "more than 100 seeds at this spread" in decide(slow, below=0.0).why


def test_mass_and_damage_says_what_it_cannot_hold_out():
    """Every cell masking all 6 layers (experiments 2 and 3): the correlation holds nothing out and
    says so, and that sparsity is not held out either; a cell masking only the last layer (nothing
    the classifier reads: effective sparsity 0) is left out, not counted as a prediction."""
    from breaking_bert.findings.report import mass_and_damage

    cells = pd.DataFrame({"masked layers": 6, "retained_mass": [0.5, 0.6, 0.7, 0.8], "lost_mass_sum": 0.0,
                          "effective_sparsity": 0.7, "delta_vs_dense": [-0.08, -0.06, -0.05, -0.02]})
    text = mass_and_damage(cells)
    assert "every cell masking 6 layers (so nothing is held out)" in text and "sparsity is not held out" in text
    inert = pd.DataFrame({"masked layers": 1, "retained_mass": [0.5, 0.6, 0.7, 0.2], "lost_mass_sum": 0.0,
                          "effective_sparsity": [0.3, 0.3, 0.3, 0.0], "delta_vs_dense": [-0.03, -0.02, -0.01, 0.0]})
    text = mass_and_damage(inert)
    assert "over its 3 single-layer cells" in text and "1 cell(s) masking nothing the classifier reads left out" in text


def test_a_report_over_runs_cut_short_says_first_that_it_is_not_a_result(tmp_path):
    """Runs trained with training.max_steps (the rehearsal) are flagged from their own metrics."""
    import json

    from breaking_bert.findings.evidence import cut_short_banner

    paths = []
    for name, steps in (("a", 2), ("b", 2), ("c", None)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps({"training": {"epochs": 3, "max_steps": steps}}))
    banner = cut_short_banner(paths)
    assert banner.startswith("> **Not a result: 2 run(s) had their training cut short** (2 at 2 step(s);")
    assert cut_short_banner(paths[2:]) == "" and cut_short_banner([]) == ""
