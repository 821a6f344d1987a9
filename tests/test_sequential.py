"""The group-sequential design (issue 28): its boundaries, its error rates on simulated findings
(judged by the findings' own code, look by look as the workflow runs them), and how looks merge."""

import json

import numpy as np
import pandas as pd
import pytest

from breaking_bert.calibration.draws import sequential_rates
from breaking_bert.calibration.scenarios import finding_4
from breaking_bert.stats.decision import CANNOT_TELL, NOT_SUPPORTED, SUPPORTED
from breaking_bert.findings import late_vs_all_layers
from breaking_bert.stats.sequential import Design, judge_looks, look_decisions, run_design, simulate, undecided_groups
from breaking_bert.stats.spending import ONE_SIDED_ALPHA, at_look, boundaries, level, nominal_levels, spent
from runs_tables import _placements, _runs


def test_obrien_fleming_boundaries_are_the_published_ones():
    """Five equally spaced looks, 2.5% one-sided (Lan-DeMets O'Brien-Fleming-type spending): the
    z boundaries tabulated in Jennison and Turnbull (2000): 4.877, 3.357, 2.680, 2.290, 2.031."""
    assert boundaries((1, 2, 3, 4, 5), 0.025) == pytest.approx((4.877, 3.357, 2.680, 2.290, 2.031), abs=0.002)
    assert spent(1.0, 0.025) == pytest.approx(0.025)


def test_the_fixed_design_is_the_one_look_rule():
    fixed = Design.from_config([0, 1, 2])
    assert fixed.looks == (3,) and nominal_levels(fixed.looks, 0.025) == pytest.approx((0.025,)) and not fixed.sequential
    with at_look(fixed.looks, 0):
        assert level() == ONE_SIDED_ALPHA and level(0.01) == 0.01
    design = Design.from_config({"initial": 3, "max": 10, "step": 2})
    assert design.looks == (3, 5, 7, 9, 10)
    levels = nominal_levels(design.looks, 0.025)
    assert all(a < b for a, b in zip(levels, levels[1:])) and levels[-1] < 0.025, "early looks spend little"
    with at_look(design.looks, 1):
        assert level() == levels[1]
    assert level() == ONE_SIDED_ALPHA, "outside a look, the fixed rule"
    with pytest.raises(ValueError, match="need 2 <= initial <= max"):
        Design.from_config({"initial": 1, "max": 10, "step": 2})
    with pytest.raises(ValueError, match="need 2 <= initial <= max"):
        Design(5, 4, 1)
    assert Design.from_config([0]).looks == (1,), "one seed: the fixed design"


def test_t_levels_keep_one_comparison_at_its_level_where_z_levels_did_not():
    """One cell, null truth, looks at 3, 5, 7, 9, 10 seeds: the levels computed on t statistics
    keep the false-definitive rate (both sides) at 5%; the z boundaries' levels, used for t-tests
    in a first version, gave 5.5% over 8,000 draws."""
    rate = simulate(Design(3, 10, 2), 1, 0.0, 1.0, draws=1500, seed=6)["definitive"]
    assert rate <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 1500), rate


def test_stopping_early_keeps_the_false_definitive_rate_and_spends_fewer_seeds():
    """Four null cells (true difference 0, the claim's bound): a definitive verdict in at most ~5%
    of draws, as the fixed design at max; four cells 1.5 spreads above it: power within a few
    points of the fixed design at max, on fewer seeds."""
    design, fixed = Design(3, 10, 2), Design(10, 10, 1)
    null = simulate(design, 4, 0.0, 1.0, draws=400)
    assert null["definitive"] <= 0.07, null
    effect_sequential = simulate(design, 4, 1.5, 1.0, draws=300, seed=1)
    effect_fixed = simulate(fixed, 4, 1.5, 1.0, draws=300, seed=1)
    assert effect_sequential["supported"] >= effect_fixed["supported"] - 0.08, (effect_sequential, effect_fixed)
    assert effect_sequential["seeds"] < 0.9 * effect_fixed["seeds"], effect_sequential  # 8.3 of 10 (2026-12-01)


def test_finding_4_under_the_design_decides_early_and_spends_fewer_seeds_than_the_fixed_design_at_max():
    """Finding 4's own code on synthetic tables (3 BigBird points against a learned frontier), run
    look by look: under the null no more definitive verdicts than the fixed design's 5%; under a
    3-point effect about the fixed design's power at max, on fewer seeds per run."""
    design, fixed = Design(3, 7, 2), Design(7, 7, 1)
    null = sequential_rates(finding_4, 3, 0.0, design, draws=40)
    assert null["definitive"] <= 0.1 and 3 <= null["seeds"] <= 7, null
    effect = sequential_rates(finding_4, 3, 0.03, design, draws=40, seed=1)
    at_max = sequential_rates(finding_4, 3, 0.03, fixed, draws=40, seed=1)
    assert effect["supported"] >= at_max["supported"] - 0.1 and at_max["supported"] > 0.5, (effect, at_max)
    assert effect["seeds"] < 0.85 * at_max["seeds"], (effect, at_max)


def _two_cells(seeds: int) -> pd.DataFrame:
    """Finding 1 over two patterns: 'clear' costs nothing late and a lot at all layers (decided on
    3 seeds); 'close' sits on both bounds (undecided)."""
    rng = np.random.default_rng(0)
    dense = 0.80 + rng.normal(0, 0.01, seeds)
    clear = _placements(list(dense + rng.normal(0, 0.0005, seeds)), list(0.60 + rng.normal(0, 0.003, seeds)), "clear")
    close = _placements(list(dense - 0.01 + rng.normal(0, 0.01, seeds)), list(dense - 0.02 + rng.normal(0, 0.01, seeds)),
                        "close")
    return _runs({**clear, **close}, dense=list(dense))


def test_a_look_gives_more_seeds_only_to_what_undecided_cells_read():
    design = Design(3, 5, 2)
    runs = _two_cells(5)
    decisions = look_decisions(design, 0, runs[runs["seed"] < 3], None, lambda r, _: [late_vs_all_layers(r)])
    assert decisions["findings"][0]["cells"] == {SUPPORTED: 1, NOT_SUPPORTED: 0, CANNOT_TELL: 1}
    going = {tuple(group) for group in decisions["continuing"]["runs"]}
    assert going == {("t", "close", "late"), ("t", "close", "all"), ("t", "dense", "none")}, "the cell and its baseline"
    assert decisions["next_seeds"] == [3, 4]
    verdicts, used, _ = run_design(design, runs, None, lambda r, _: [late_vs_all_layers(r)])
    evidence = verdicts[0].evidence.set_index("pattern")
    assert evidence.loc["clear", "decided"] == "look 1 (3 seeds)" and evidence.loc["clear", "seeds"] == 3
    assert evidence.loc["close", "decided"] == "undecided after look 2 (5 seeds)" and evidence.loc["close", "seeds"] == 5
    assert len(used) == 5 * 3 + 3 * 2, "5 groups x 3 seeds, then 3 groups x 2"
    assert judge_looks(design, used, None, lambda r, _: [late_vs_all_layers(r)])[0].evidence.equals(verdicts[0].evidence)
    assert look_decisions(design, 1, used, None, lambda r, _: [late_vs_all_layers(r)])["continuing"] == {
        "runs": [], "learned": []}, "nothing after the last look"


def test_cells_more_seeds_cannot_decide_get_none():
    runs = _two_cells(3)
    runs.loc[runs["pattern"] == "close", "score"] = np.nan
    verdict = late_vs_all_layers(runs)
    assert not any(cell.more_seeds_help for cell in verdict.cells if cell.verdict == CANNOT_TELL)
    assert undecided_groups([verdict]) == set()


@pytest.fixture(scope="module")
def keyword_csv(tmp_path_factory):
    """200 sentences whose label is the sentiment word in them, 15% of labels flipped: a task the
    tiny random BERT learns, with accuracies that differ between seeds (a constant prediction would
    give every cell the same score and no spread to judge)."""
    rng = np.random.default_rng(0)
    good, bad = "good great fine warm funny clever moving charming".split(), "bad dull boring flat tedious thin messy slow".split()
    filler = "the film story cast plot script was is and a very quite".split()
    rows = []
    for i in range(200):
        label = i % 2
        words = [rng.choice(good if label else bad), *rng.choice(filler, 5)]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label if rng.random() > 0.15 else 1 - label})
    path = tmp_path_factory.mktemp("keywords") / "keywords.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_the_second_look_trains_only_the_undecided_cells_new_seeds(tiny_model_dir, keyword_csv, tmp_path):
    """Two cells of finding 1 (late costs little, all costs more) with a margin of 2 accuracy
    points no difference reaches, so that a verdict needs nothing but a spread to judge: neighbour
    w=1 is decided at the first look (all - late is far above -2: refuted); 'copy' masks nothing
    (every token global), so its runs equal dense's, with no spread, and it gets a second look.
    That look trains seed 3 of copy/late, copy/all and dense, and nothing else; a rerun schedules
    nothing."""
    import yaml

    from conftest import copy_workflow, scheduled_jobs, snakemake, tiny_config

    directory = copy_workflow(tmp_path)
    config = tiny_config(tiny_model_dir, keyword_csv)
    config.update(
        patterns={"dense": {"kind": "dense"}, "neighbour": {"kind": "neighbour", "degrees": {"w": 1}},
                  "copy": {"kind": "neighbour", "degrees": {"w": 64}, "special_tokens": "global"}},
        experiments={"placement": {"tasks": ["tiny"], "patterns": ["neighbour", "copy"], "placements": ["late", "all"]}},
        seeds={"initial": 3, "max": 4, "step": 1}, findings={"negligible_drop": 2.0, "high_sparsity": 0.0},
        training={"epochs": 10, "batch_size": 16, "learning_rate": 2e-3, "device": "cpu"}, tracking={"enabled": False},
        cost={"enabled": False})
    for key in ("pattern_grids", "learned_sparsity"):
        config.pop(key)
    (directory / "test_config.yaml").write_text(yaml.safe_dump(config))
    report = "results/test_config/findings.md"  # the figures add nothing here
    first = scheduled_jobs(directory, report)
    assert first["finetune"] == 5 * 3 and first["look"] == 1, first
    snakemake(directory, "--until", "look")
    look = json.loads((directory / "results/test_config/looks/look0.json").read_text())
    assert look["findings"][0]["cells"] == {SUPPORTED: 0, NOT_SUPPORTED: 1, CANNOT_TELL: 1}, look
    assert sorted(map(tuple, look["continuing"]["runs"])) == [("tiny", "copy", "all"), ("tiny", "copy", "late"),
                                                           ("tiny", "dense", "none")]
    trained = set((directory / "results/runs").glob("*/*/*/seed*/metrics.json"))
    snakemake(directory, report)
    new = set((directory / "results/runs").glob("*/*/*/seed*/metrics.json")) - trained
    assert sorted(str(path.relative_to(directory / "results/runs").parent) for path in new) == [
        "tiny/copy/all/seed3", "tiny/copy/late/seed3", "tiny/dense/none/seed3"]
    text = (directory / report).read_text()
    assert "| look 1 (3 seeds) |" in text and "| undecided after look 2 (4 seeds) |" in text, text
    assert "Sequential design: looks at 3, 4 seeds" in text
    assert scheduled_jobs(directory, report) == {}


def _swapping_tasks() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two tasks, one BigBird point each, whose order by sparsity swaps between looks at 3 and 5
    seeds (a's mean 0.80 then 0.84, b's 0.82 then 0.796): a's learned frontier is 0.10 above its
    point (a real gain), b's on it (no gain)."""
    rows, learned = [], []
    cells = {"a": ([0.80, 0.80, 0.80, 0.90, 0.90], 0.10), "b": ([0.82, 0.82, 0.82, 0.76, 0.76], 0.0)}
    wobble = [0.01, -0.01, 0.002, 0.006, -0.004]
    for task, (sparsity, gain) in cells.items():
        for seed in range(5):
            common = {"task": task, "seed": seed, "metric": "accuracy", "train_samples_per_second": 1.0}
            rows.append({**common, "pattern": "dense", "kind": "dense", "placement": "none", "degrees": "",
                         "score": 0.8, "sparsity_mean": 0.0, "effective_sparsity_mean": 0.0})
            rows.append({**common, "pattern": f"bb_{task}", "kind": "bigbird", "placement": "all",
                         "degrees": "g=1 w=1 r=1", "score": 0.70 + 0.001 * seed, "sparsity_mean": sparsity[seed],
                         "effective_sparsity_mean": sparsity[seed]})
            for target in (0.70, 0.90):  # a flat frontier: its score at any sparsity is the point's + gain
                learned.append({"task": task, "variant": "regular", "setting": f"target{target}", "seed": seed,
                                "score": 0.70 + 0.001 * seed + gain + (wobble[seed] if gain == 0 else 0.002 * (seed % 2)),
                                "sparsity_mean": target, "effective_sparsity_mean": target})
    from breaking_bert.vocabulary import degree_columns, parse_degrees

    table = pd.DataFrame(rows)
    for column, values in zip(degree_columns(parse_degrees("g=1 w=1 r=1")), zip(*[
            degree_columns(parse_degrees(d) if d else None).values() for d in table["degrees"]])):
        table[column] = values
    return table, pd.DataFrame(learned)


def test_cells_whose_order_swaps_between_looks_merge_by_what_they_are():
    """Merged by position, look 2's first cell (b) took look 1's first cell's verdict (a's
    support): a showed twice, b not at all, and the finding came out supported though no look said
    so; b then got no more seeds. By key each cell is itself, once, and the null one goes on."""
    from breaking_bert.findings import learned_beats_bigbird

    runs, learned = _swapping_tasks()
    design = Design(3, 5, 2)

    def judge(r, l):
        return [learned_beats_bigbird(r, l, high_sparsity=0.75)]

    per_look = []
    for look, seeds in enumerate(design.looks):
        with at_look(design.looks, look):
            per_look.append(judge(runs[runs["seed"] < seeds], learned[learned["seed"] < seeds]))
    orders = [[key[0] for key in verdicts[0].cell_keys] for verdicts in per_look]
    assert orders == [["a", "b"], ["b", "a"]], "the order by sparsity swaps"
    (merged,) = judge_looks(design, runs, learned, judge)
    by_task = dict(zip([key[0] for key in merged.cell_keys], merged.cells))
    assert sorted(by_task) == ["a", "b"], "each cell once"
    assert by_task["a"].verdict == SUPPORTED and by_task["b"].verdict == CANNOT_TELL
    assert merged.verdict == CANNOT_TELL
    rows = merged.evidence.set_index("task")
    assert rows.loc["a", "decided"] == "look 1 (3 seeds)" and rows.loc["b", "decided"] == "undecided after look 2 (5 seeds)"
    going = undecided_groups(judge_looks(design, runs, learned, judge, last=0))
    assert ("runs", "b", "bb_b", "all") in going and ("learned", "b", "regular", "target0.7") in going
    assert not any(group[1] == "a" for group in going), "a is decided: it gets no more seeds"


def test_a_finding_is_never_supported_when_no_single_look_supports_all_its_cells():
    """x supported at look 1 only, y at look 2 only: each cell is supported at some look, but no
    look's evidence supports both, so the finding cannot tell."""
    from breaking_bert.stats.decision import Outcome
    from breaking_bert.findings.cells import conclude
    from breaking_bert.stats.sequential import merge_looks

    def look(x, y):
        rows = [{"task": "x"}, {"task": "y"}]
        outcomes = [Outcome(x, f"x {x}", 0.001 if x == SUPPORTED else 0.5), Outcome(y, f"y {y}", 0.001 if y == SUPPORTED else 0.5)]
        return [conclude("f", rows, outcomes, "({tally})", [("x",), ("y",)])]

    per_look = [look(SUPPORTED, CANNOT_TELL), look(CANNOT_TELL, SUPPORTED)]
    (merged,) = merge_looks(Design(3, 5, 2), per_look)
    assert [cell.verdict for cell in merged.cells] == [SUPPORTED, SUPPORTED]
    assert merged.verdict == CANNOT_TELL and "no single look supported them all" in merged.reason
    (both,) = merge_looks(Design(3, 5, 2), [look(SUPPORTED, CANNOT_TELL), look(SUPPORTED, SUPPORTED)])
    assert both.verdict == SUPPORTED
    # a cell that joins the finding at a later look is judged from the looks it is in
    (joined,) = merge_looks(Design(3, 5, 2), [[conclude("f", [{"task": "x"}], [Outcome(SUPPORTED, "x", 0.001)],
                                                        "({tally})", [("x",)])], look(SUPPORTED, SUPPORTED)])
    assert joined.verdict == SUPPORTED and joined.evidence["decided"].tolist() == ["look 1 (3 seeds)", "look 2 (5 seeds)"]


def test_a_cell_decided_at_an_earlier_look_stays_when_it_leaves_the_finding():
    """A BigBird point refuted at look 1 whose mean sparsity then falls below the gate (its other
    variant's cell kept it running): it leaves the last look's cells, but its refutation stands,
    so the finding is not supported (merged by the last look alone, it came out supported)."""
    from breaking_bert.stats.decision import Outcome
    from breaking_bert.findings.cells import conclude
    from breaking_bert.stats.sequential import merge_looks

    look_1 = conclude("f", [{"task": "x"}, {"task": "y"}], [Outcome(NOT_SUPPORTED, "x refuted", 0.9, 0.0001),
                                                             Outcome(CANNOT_TELL, "y open", 0.2, 0.5)],
                      "({tally})", [("x",), ("y",)])
    look_2 = conclude("f", [{"task": "y"}], [Outcome(SUPPORTED, "y supported", 0.001, 0.9)], "({tally})", [("y",)])
    (merged,) = merge_looks(Design(3, 5, 2), [[look_1], [look_2]])
    assert merged.verdict == "partly" and sorted(merged.cell_keys) == [("x",), ("y",)]
    assert [cell.verdict for cell in merged.cells] == [SUPPORTED, NOT_SUPPORTED]
    rows = merged.evidence.set_index("task")
    assert rows.loc["x", "decided"] == "look 1 (3 seeds); not among the last look's cells"
    assert rows.loc["y", "decided"] == "look 2 (5 seeds)"
    # an undecided cell that left is left out
    look_1b = conclude("f", [{"task": "x"}, {"task": "y"}], [Outcome(CANNOT_TELL, "x open", 0.3, 0.4),
                                                              Outcome(CANNOT_TELL, "y open", 0.2, 0.5)],
                       "({tally})", [("x",), ("y",)])
    (left,) = merge_looks(Design(3, 5, 2), [[look_1b], [look_2]])
    assert left.verdict == SUPPORTED and left.cell_keys == [("y",)]
    # every cell left by the last look (not tested there): the refutation decided before stands
    from breaking_bert.findings.cells import NOT_TESTED, Verdict

    (gone,) = merge_looks(Design(3, 5, 2), [[look_1], [Verdict("f", NOT_TESTED, "no cell at the gate")]])
    assert gone.verdict == NOT_SUPPORTED and gone.cell_keys == [("x",)]
    (never,) = merge_looks(Design(3, 5, 2), [[look_1b], [Verdict("f", NOT_TESTED, "no cell at the gate")]])
    assert never.verdict == NOT_TESTED
