"""Is the decision rule calibrated? Each finding judged, by its own code, on synthetic runs tables
whose truth is known (issue 27): a null truth, every cell on its claim's bound, where any
definitive verdict is false (the false-definitive rate, goal <= 5%), and an effect truth, every cell
a set distance on the claimed side, where 'supported' is right (the power at the configured seeds).

Scores: cell truth + a seed effect shared by every cell of a seed (the same head init and data
order) + noise of the run's own. The spreads are rough figures from the reproductions (the dense
baseline's SD over seeds is 1-2 points on 600 Rotten Tomatoes sentences); the rates scale with the
effect in units of the spread, so the table gives them for the effect sizes named beside them.

The A/A run (config/calibration_aa.yaml) does the same on real runs: conditions that are the same
under two names, where a definitive verdict either way is false (``aa_table``). Beside the rule,
on the same cells, almost stochastic order (deepsig), the test NLP reviewers know for comparing
models over seeds (``aso_side_by_side``, ``./run.sh calibrate aso results/tables/runs.csv``).

``./run.sh calibrate [draws]`` prints the simulation's table and ``./run.sh calibrate aa
results/tables/runs.csv`` the A/A run's, the tables docs/EXPERIMENTS.md records.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .decision import CANNOT_TELL, SUPPORTED, decide
from .differences import difference
from .findings.cells import HIGH_SPARSITY, NEGLIGIBLE_DROP, SPARSITY_TOLERANCE
from .findings.fixed import late_vs_all_layers, least_damaging_patterns, removing_neighbour_hurts_most
from .findings.learned import learned_beats_bigbird
from .vocabulary import BASELINE_KIND, degree_columns, parse_degrees

RUN_NOISE = 0.012  # SD of one run around its cell's truth
SEED_NOISE = 0.006  # SD of the effect a seed has on every cell it runs
DENSE = 0.80
NEGLIGIBLE = NEGLIGIBLE_DROP
SPARSITY = 0.78


def _runs(cells: dict, seeds: int, rng) -> pd.DataFrame:
    """cells: {(pattern, kind, placement, degrees): truth}, plus the dense cell, as a runs table."""
    shared = rng.normal(0, SEED_NOISE, seeds)
    rows = []
    for (pattern, kind, placement, degrees), truth in {("dense", BASELINE_KIND, "none", ""): DENSE, **cells}.items():
        sparsity = 0.0 if kind == BASELINE_KIND else SPARSITY
        for seed in range(seeds):
            rows.append({"task": "t", "pattern": pattern, "kind": kind, "placement": placement, "degrees": degrees,
                         **degree_columns(parse_degrees(degrees) if degrees else None), "seed": seed,
                         "metric": "accuracy", "score": truth + shared[seed] + rng.normal(0, RUN_NOISE),
                         "sparsity_mean": sparsity, "effective_sparsity_mean": sparsity,
                         "train_samples_per_second": 1.0})
    return pd.DataFrame(rows)


@dataclass
class Scenario:
    """A synthetic runs table (and learned runs table) with the finding that judges it:
    ``judge(runs, learned_runs)`` -> [Verdict], as findings.report.judge_with makes it."""

    runs: pd.DataFrame
    learned_runs: pd.DataFrame | None
    judge: Callable

    def verdict(self) -> str:
        return self.judge(self.runs, self.learned_runs)[0].verdict


def finding_1(cells: int, effect: float, seeds: int, rng):
    """Per pattern: late - dense and all - late. Null: both on their bounds (-0.01); effect: late is
    dense and all is ``effect`` below the bound."""
    late, every = (DENSE - NEGLIGIBLE, DENSE - 2 * NEGLIGIBLE) if effect == 0 else (DENSE, DENSE - NEGLIGIBLE - effect)
    table = {}
    for k in range(cells):
        table[(f"p{k}", "neighbour", "late", "w=1")] = late
        table[(f"p{k}", "neighbour", "all", "w=1")] = every
    return Scenario(_runs(table, seeds, rng), None, lambda runs, _: [late_vs_all_layers(runs, NEGLIGIBLE, HIGH_SPARSITY)])


def finding_2(cells: int, effect: float, seeds: int, rng):
    """Per task the four kinds. Null: all equal; effect: neighbour and random ``effect`` above."""
    verdicts = []
    for _ in range(cells):  # one task per cell: judged together below
        truth = {"neighbour": effect, "random": effect, "syntax": 0.0, "lexical": 0.0}
        verdicts.append({(kind, kind, "all", "k=1"): DENSE - 0.05 + gain for kind, gain in truth.items()})
    frames = [_runs(table, seeds, rng).assign(task=f"t{i}") for i, table in enumerate(verdicts)]
    return Scenario(pd.concat(frames, ignore_index=True), None,
                    lambda runs, _: [least_damaging_patterns(runs, sparsity_tolerance=SPARSITY_TOLERANCE)])


def finding_3(cells: int, effect: float, seeds: int, rng):
    """Per BigBird point: its three removals. Null: all equal; effect: without w ``effect`` below."""
    table = {}
    for k in range(cells):
        grid = f"bb{k}"
        table[(f"{grid}_g1_w2_r2", "bigbird", "all", "g=1 w=2 r=2")] = DENSE - 0.02
        for removed, degrees in (("g", "g=0 w=2 r=2"), ("w", "g=1 w=0 r=2"), ("r", "g=1 w=2 r=0")):
            suffix = "_".join(part.replace("=", "") for part in degrees.split())
            table[(f"{grid}_{suffix}", "bigbird", "all", degrees)] = DENSE - 0.04 - (effect if removed == "w" else 0.0)
    return Scenario(_runs(table, seeds, rng), None, lambda runs, _: [removing_neighbour_hurts_most(runs, SPARSITY_TOLERANCE)])


def finding_4(cells: int, effect: float, seeds: int, rng):
    """Per full BigBird point at 0.78: the learned frontier (targets 0.70 and 0.85, a straight
    line through the point's truth + ``effect``)."""
    runs = _runs({(f"bb{k}_g1_w1_r1", "bigbird", "all", "g=1 w=1 r=1"): DENSE - 0.03
                  for k in range(cells)}, seeds, rng)
    shared = rng.normal(0, SEED_NOISE, seeds)
    slope = -0.2  # score per unit of sparsity along the frontier
    learned = [{"task": "t", "variant": "regular", "setting": f"target{target}", "seed": seed,
                "score": DENSE - 0.03 + effect + slope * (target - SPARSITY) + shared[seed] + rng.normal(0, RUN_NOISE),
                "sparsity_mean": target, "effective_sparsity_mean": target}
               for target in (0.70, 0.85) for seed in range(seeds)]
    return Scenario(runs, pd.DataFrame(learned), lambda runs, learned: [learned_beats_bigbird(runs, learned, HIGH_SPARSITY)])


FINDINGS: dict[str, tuple[Callable, int, int, float]] = {
    # name: (simulate, cells in the reproduction config, cells at paper scale, effect for power)
    "1 late costs little, all more": (finding_1, 4, 18, 0.03),
    "2 neighbour, random least damaging": (finding_2, 1, 3, 0.03),
    "3 removing w hurts most": (finding_3, 2, 24, 0.03),
    "4 learned beats BigBird": (finding_4, 3, 3, 0.03),
}


def rates(simulate: Callable, cells: int, effect: float, seeds: int, draws: int, seed: int = 0) -> dict:
    """Over ``draws`` synthetic tables: the share of verdicts that are definitive (null) or supported."""
    rng = np.random.default_rng(seed)
    verdicts = [simulate(cells, effect, seeds, rng).verdict() for _ in range(draws)]
    return {"definitive": float(np.mean([v != CANNOT_TELL for v in verdicts])),
            "supported": float(np.mean([v == SUPPORTED for v in verdicts]))}


def sequential_rates(simulate: Callable, cells: int, effect: float, design, draws: int, seed: int = 0) -> dict:
    """Over ``draws`` synthetic tables holding ``design.max`` seeds of every cell, the design run
    look by look as the workflow runs it (sequential.run_design): the share of verdicts that are
    definitive (null) or supported, and the mean seeds a run group used."""
    from .sequential import run_design

    rng = np.random.default_rng(seed)
    verdicts, seeds = [], []
    for _ in range(draws):
        scenario = simulate(cells, effect, design.max, rng)
        found, used, learned_used = run_design(design, scenario.runs, scenario.learned_runs, scenario.judge)
        verdicts.append(found[0].verdict)
        seeds.append(np.mean([len(used), *([len(learned_used)] if learned_used is not None else [])]) /
                     np.mean([len(scenario.runs), *([len(scenario.learned_runs)] if learned_used is not None else [])])
                     * design.max)
    return {"definitive": float(np.mean([v != CANNOT_TELL for v in verdicts])),
            "supported": float(np.mean([v == SUPPORTED for v in verdicts])), "seeds": float(np.mean(seeds))}


def sequential_table(draws: int = 200, designs=((3, 10, 2), (10, 10, 1), (3, 3, 1))) -> pd.DataFrame:
    """Each finding (reproduction-scale cells) under the sequential design and the fixed designs
    at its first look and at its max: false-definitive rate, power and seeds per run group."""
    from .sequential import Design

    rows = []
    for name, (simulate, cells, _, effect) in FINDINGS.items():
        for initial, most, step in designs:
            design = Design(initial, most, step)
            null = sequential_rates(simulate, cells, 0.0, design, draws)
            power = sequential_rates(simulate, cells, effect, design, draws, seed=1)
            rows.append({"finding": name, "cells": cells, "design": f"sequential, looks at {', '.join(map(str, design.looks))}"
                         if design.sequential else f"fixed, {design.max} seeds",
                         "false definitive (null)": null["definitive"], "effect": effect,
                         "power (supported)": power["supported"], "seeds per run (null)": null["seeds"],
                         "seeds per run (effect)": power["seeds"]})
    return pd.DataFrame(rows)


def calibration_table(draws: int = 200, seed_counts=(3, 5)) -> pd.DataFrame:
    rows = []
    for name, (simulate, reproduction, paper, effect) in FINDINGS.items():
        for scale, cells in (("reproduction", reproduction), ("paper", paper)):
            for seeds in seed_counts:
                null = rates(simulate, cells, 0.0, seeds, draws)
                power = rates(simulate, cells, effect, seeds, draws, seed=1)
                rows.append({"finding": name, "scale": scale, "cells": cells, "seeds": seeds,
                             "false definitive (null)": null["definitive"], "effect": effect,
                             "power (supported)": power["supported"]})
    return pd.DataFrame(rows)


def _block(cell: pd.DataFrame, seeds) -> dict[int, float]:
    """Scores of ``seeds``, relabelled 0, 1, ... so that two blocks pair in order."""
    by_seed = dict(zip(cell["seed"].astype(int), cell["score"].astype(float)))
    return {k: by_seed[s] for k, s in enumerate(seeds) if s in by_seed}


AA_COMPARISONS = [
    # (first pattern, its seeds, second pattern, its seeds): the same condition on both sides
    ("random", range(0, 3), "random_twin", range(0, 3)),
    ("random", range(3, 6), "random_twin", range(3, 6)),
    ("random", range(6, 9), "random_twin", range(6, 9)),
    ("random", range(0, 5), "random_twin", range(0, 5)),
    ("random", range(5, 10), "random_twin", range(5, 10)),
    ("dense", range(0, 3), "dense", range(3, 6)),
    ("dense", range(6, 9), "dense", range(3, 6)),
    ("dense", range(0, 5), "dense", range(5, 10)),
]


def aa_table(runs: pd.DataFrame, with_aso: bool = True) -> pd.DataFrame:
    """Each A/A comparison of config/calibration_aa.yaml judged by the rule: the claim 'the first
    scores above the second'; supported or not supported is a false definitive verdict. With ASO
    beside it (``with_aso``: deepsig, ~10 s a comparison)."""
    rows = []
    for first, first_seeds, second, second_seeds in AA_COMPARISONS:
        a = _block(runs[runs["pattern"] == first], first_seeds)
        b = _block(runs[runs["pattern"] == second], second_seeds)
        diff = difference(a, b)
        outcome = decide(diff, above=0.0)
        aso, above, below = (aso_verdict(list(a.values()), list(b.values()), comparisons=len(AA_COMPARISONS))
                             if with_aso else ("not run", math.nan, math.nan))
        rows.append({"first": f"{first} seeds {first_seeds.start}-{first_seeds.stop - 1}",
                     "second": f"{second} seeds {second_seeds.start}-{second_seeds.stop - 1}",
                     "first - second": str(diff), "verdict": outcome.verdict,
                     "false definitive": outcome.verdict != CANNOT_TELL,
                     "ASO eps_min first>second": above, "ASO eps_min second>first": below, "ASO": aso})
    return pd.DataFrame(rows)


ASO_THRESHOLD = 0.5  # deepsig's suggested threshold on eps_min: below it, the first is stochastically dominant


def aso_verdict(first: list[float], second: list[float], comparisons: int = 1, seed: int = 0) -> tuple[str, float, float]:
    """Almost stochastic order (Dror et al. 2019; deepsig) both ways, as one of 'first above',
    'first below' or 'no order', with eps_min of each direction (Bonferroni over ``comparisons``)."""
    from deepsig import aso

    options = {"confidence_level": 0.95, "num_comparisons": comparisons, "seed": seed, "show_progress": False}
    above, below = aso(first, second, **options), aso(second, first, **options)
    verdict = "first above" if above < ASO_THRESHOLD else "first below" if below < ASO_THRESHOLD else "no order"
    return verdict, above, below


def aso_side_by_side(runs: pd.DataFrame) -> pd.DataFrame:
    """Per sparse cell of a runs table against its task's dense cell: this rule's verdict on 'the
    cell scores below dense' (per cell, then after Holm over the cells) beside ASO's, paired seeds
    only, ASO's eps_min Bonferroni-corrected over the same cells."""
    from .findings.cells import _scores
    from .decision import judge_cells

    cells = runs[runs["kind"] != BASELINE_KIND].drop_duplicates(["task", "pattern", "placement"])
    measured = []
    for cell in cells.itertuples():
        dense, scores = _scores(runs, task=cell.task, kind=BASELINE_KIND), _scores(runs, task=cell.task, pattern=cell.pattern,
                                                                               placement=cell.placement)
        shared = sorted(set(dense) & set(scores))
        measured.append((cell, [scores[s] for s in shared], [dense[s] for s in shared], difference(scores, dense)))
    outcomes = [decide(diff, below=0.0) for *_, diff in measured]
    _, holm = judge_cells(outcomes) if outcomes else ("", [])
    rows = []
    for (cell, scores, dense, diff), alone, judged in zip(measured, outcomes, holm):
        aso, above, below = aso_verdict(scores, dense, comparisons=len(measured))
        ours = {SUPPORTED: "first below", "not supported": "first above"}.get(judged.verdict, "no order")
        rows.append({"task": cell.task, "cell": f"{cell.pattern}/{cell.placement}", "cell - dense": str(diff),
                     "rule (cell alone)": alone.verdict, "rule (after Holm)": judged.verdict,
                     "ASO eps_min cell>dense": above, "ASO eps_min dense>cell": below, "ASO": aso,
                     "agree": aso == ours})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    from .aggregate import to_markdown

    if sys.argv[1:2] == ["aa"]:
        print(to_markdown(aa_table(pd.read_csv(sys.argv[2])), float_format="{:.3f}"))
    elif sys.argv[1:2] == ["sequential"]:
        draws = int(sys.argv[2]) if len(sys.argv) > 2 else 200
        print(f"{draws} draws per row; run noise {RUN_NOISE}, seed noise {SEED_NOISE}")
        print(to_markdown(sequential_table(draws), float_format="{:.3f}"))
    elif sys.argv[1:2] == ["aso"]:
        print(to_markdown(aso_side_by_side(pd.read_csv(sys.argv[2], keep_default_na=False, na_values=[""])),
                          float_format="{:.3f}"))
    else:
        draws = int(sys.argv[1]) if len(sys.argv) > 1 else 200
        print(f"{draws} draws per row; run noise {RUN_NOISE}, seed noise {SEED_NOISE}")
        print(to_markdown(calibration_table(draws), float_format="{:.3f}"))
