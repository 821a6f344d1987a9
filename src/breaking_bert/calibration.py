"""Is the decision rule calibrated? Each finding judged, by its own code, on synthetic runs tables
whose truth is known, at its least favourable nulls, in the fixed and the sequential design:

- ``null``: every part of every cell on its claim's bound (the global null);
- ``a``: one part of one cell exactly on its bound, every other part clearly true (the case an
  intersection-union test is least favourable at: the finding hinges on that part);
- ``b2``, ``b3``: as ``a``, with the cell on its bound run at 2x or 3x the others' run SD;
- ``c``: the first part of every cell on its bound, those contrasts sharing one baseline run at 3x
  the SD (finding 1's dense, finding 2's syntax, finding 3's without-w, finding 4's frontier);
- ``d`` (finding 4): two tasks, one with a clear gain, one on its bound, whose BigBird points'
  order by sparsity swaps from seed to seed (so between looks);
- ``e``: as ``a`` for every cell, on an eval set of EXAMPLES examples drawn anew in every draw, each
  cell with its own luck on each example (shared by its seeds) as large as its seed noise: the
  truth is about the task, and the runs carry per-example values (differences.py); ``e0`` judges
  the same tables without them (the seeds' interval alone, about the eval set), for comparison.

Any definitive finding verdict (supported, not supported, partly) is false in every case: at the
bound neither the claim nor its opposite holds. Goal: at most 5% + 2 SE. Power is the share of
``supported`` with every cell a set effect beyond its bound.

Scores: cell truth + a seed effect shared by every cell of a seed (the same head init and data
order) + noise of the run's own. The spreads are rough figures from the reproductions (the dense
baseline's SD over seeds is 1-2 points on 600 Rotten Tomatoes sentences); rates scale with the
effect in units of the spread. ``./run.sh calibrate [draws]`` prints the table docs/EXPERIMENTS.md
records; the A/A run and almost stochastic order are in ``calibration_aa``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .decision import CANNOT_TELL, SUPPORTED
from .findings.cells import HIGH_SPARSITY, NEGLIGIBLE_DROP, SPARSITY_TOLERANCE
from .findings.fixed import late_vs_all_layers, least_damaging_patterns, removing_neighbour_hurts_most
from .findings.learned import learned_beats_bigbird
from .differences import EVAL_VALUES
from .vocabulary import BASELINE_KIND, degree_columns, parse_degrees

RUN_NOISE = 0.012  # SD of one run around its cell's truth
SEED_NOISE = 0.006  # SD of the effect a seed has on every cell it runs
DENSE = 0.80
MARGIN = NEGLIGIBLE_DROP["accuracy"]
SPARSITY = 0.78
CLEAR = 0.10  # "clearly true": this far beyond the bound (~10 standard errors of a paired difference at 3 seeds)
CASES = ("null", "a", "b2", "b3", "c", "e", "e0")
EXAMPLES = 100  # the eval set of cases e and e0
EXAMPLE_NOISE = RUN_NOISE * EXAMPLES**0.5  # per example: its mean over the set has the run noise's SD
SCALE = {"b2": 2.0, "b3": 3.0}  # the run SD of the cell on its bound, in units of the others'


def _noise(rng, seeds: int, scale: float, examples: bool):
    """Per seed, a run's noise around its cell's truth, and (``examples``) its per-example values
    around it: the cell's own luck on each example of this eval set (shared by its seeds) plus each
    run's own, so that the mean over the examples is the run's score."""
    if not examples:
        return rng.normal(0, RUN_NOISE * scale, seeds), [None] * seeds
    luck = rng.normal(0, EXAMPLE_NOISE * scale, EXAMPLES)
    values = luck[None, :] + rng.normal(0, EXAMPLE_NOISE * scale, (seeds, EXAMPLES))
    return values.mean(axis=1), list(values)


def _runs(cells: dict, seeds: int, rng, task: str = "t", dense_noise: float = 1.0,
          sparsity_by_seed: dict | None = None, examples: bool = False) -> pd.DataFrame:
    """cells: {(pattern, kind, placement, degrees): (truth, noise scale)}, plus the dense cell, as
    a runs table; ``sparsity_by_seed``: {pattern: per-seed sparsity} where it varies by seed;
    ``examples``: each run's per-example values in the EVAL_VALUES column."""
    shared = rng.normal(0, SEED_NOISE, seeds)
    rows = []
    for (pattern, kind, placement, degrees), (truth, scale) in {("dense", BASELINE_KIND, "none", ""): (DENSE, dense_noise),
                                                                 **cells}.items():
        sparsity = [0.0 if kind == BASELINE_KIND else SPARSITY] * seeds
        sparsity = (sparsity_by_seed or {}).get(pattern, sparsity)
        noise, values = _noise(rng, seeds, scale, examples)
        for seed in range(seeds):
            rows.append({"task": task, "pattern": pattern, "kind": kind, "placement": placement, "degrees": degrees,
                         **degree_columns(parse_degrees(degrees) if degrees else None), "seed": seed,
                         "metric": "accuracy", "score": truth + shared[seed] + noise[seed],
                         "sparsity_mean": sparsity[seed], "effective_sparsity_mean": sparsity[seed],
                         "train_samples_per_second": 1.0,
                         **({EVAL_VALUES: truth + shared[seed] + values[seed]} if examples else {})})
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

    def seeds_only(self) -> "Scenario":
        """The same tables without their per-example values (case e0)."""
        def drop(table):
            return None if table is None else table.drop(columns=[EVAL_VALUES], errors="ignore")
        return Scenario(drop(self.runs), drop(self.learned_runs), self.judge)


def _beyond(k: int, effect: float, case: str) -> float:
    """How far cell k's first part lies beyond its bound: ``effect`` for power; at a null, 0 where
    that part is on its bound (every cell at ``null`` and ``c``, cell 0 otherwise), else CLEAR."""
    if effect:
        return effect
    return 0.0 if case in ("null", "c", "e", "e0") or k == 0 else CLEAR


def _examples(case: str) -> bool:
    return case in ("e", "e0")


def _second(k: int, effect: float, case: str) -> float:
    """How far cell k's other parts lie beyond their bounds (on it only at the global null)."""
    return effect if effect else (0.0 if case == "null" else CLEAR)


def _scale(k: int, case: str) -> float:
    return SCALE.get(case, 1.0) if k == 0 else 1.0


def finding_1(cells: int, effect: float, seeds: int, rng, case: str = "null") -> Scenario:
    """Per pattern: late - dense above -margin (the part put on its bound), all - late below -margin."""
    table = {}
    for k in range(cells):
        late = DENSE - MARGIN + _beyond(k, effect, case)
        table[(f"p{k}", "neighbour", "late", "w=1")] = (late, _scale(k, case))
        table[(f"p{k}", "neighbour", "all", "w=1")] = (late - MARGIN - _second(k, effect, case), 1.0)
    runs = _runs(table, seeds, rng, dense_noise=3.0 if case == "c" else 1.0, examples=_examples(case))
    return Scenario(runs, None, lambda runs, _: [late_vs_all_layers(runs, NEGLIGIBLE_DROP, HIGH_SPARSITY)])


def finding_2(cells: int, effect: float, seeds: int, rng, case: str = "null") -> Scenario:
    """Per task the four kinds: neighbour - syntax (the part put on its bound), neighbour - lexical,
    random - syntax, random - lexical above 0."""
    frames = []
    for k in range(cells):  # one task per cell
        bound, other = _beyond(k, effect, case), _second(k, effect, case)
        truth = {"syntax": 0.0, "neighbour": bound, "lexical": min(bound, 0.0) - other, "random": other}
        if effect:
            truth.update(lexical=0.0, random=effect)
        scale = {"syntax": 3.0 if case == "c" else _scale(k, case)}
        table = {(kind, kind, "all", "k=1"): (DENSE - 0.05 + gain, scale.get(kind, 1.0)) for kind, gain in truth.items()}
        frames.append(_runs(table, seeds, rng, task=f"t{k}", examples=_examples(case)))
    return Scenario(pd.concat(frames, ignore_index=True), None,
                    lambda runs, _: [least_damaging_patterns(runs, sparsity_tolerance=SPARSITY_TOLERANCE)])


def finding_3(cells: int, effect: float, seeds: int, rng, case: str = "null") -> Scenario:
    """Per BigBird point: without w below without g (the part put on its bound) and below without r."""
    table = {}
    for k in range(cells):
        grid = f"bb{k}"
        table[(f"{grid}_g1_w2_r2", "bigbird", "all", "g=1 w=2 r=2")] = (DENSE - 0.02, 1.0)
        without = {"w": DENSE - 0.06, "g": DENSE - 0.06 + _beyond(k, effect, case),
                   "r": DENSE - 0.06 + _second(k, effect, case)}
        scale = {"w": 3.0 if case == "c" else 1.0, "g": _scale(k, case)}
        for removed, degrees in (("g", "g=0 w=2 r=2"), ("w", "g=1 w=0 r=2"), ("r", "g=1 w=2 r=0")):
            suffix = "_".join(part.replace("=", "") for part in degrees.split())
            table[(f"{grid}_{suffix}", "bigbird", "all", degrees)] = (without[removed], scale.get(removed, 1.0))
    return Scenario(_runs(table, seeds, rng, examples=_examples(case)), None,
                    lambda runs, _: [removing_neighbour_hurts_most(runs, SPARSITY_TOLERANCE)])


def _frontier(task: str, gain: float, seeds: int, rng, scale: float = 1.0, examples: bool = False) -> list[dict]:
    """A learned frontier (targets 0.70 and 0.85) through the BigBird truth + ``gain`` at SPARSITY."""
    shared = rng.normal(0, SEED_NOISE, seeds)
    slope = -0.2  # score per unit of sparsity along the frontier
    rows = []
    for target in (0.70, 0.85):
        truth = DENSE - 0.03 + gain + slope * (target - SPARSITY)
        noise, values = _noise(rng, seeds, scale, examples)
        rows += [{"task": task, "variant": "regular", "setting": f"target{target}", "seed": seed,
                  "score": truth + shared[seed] + noise[seed], "sparsity_mean": target, "effective_sparsity_mean": target,
                  **({EVAL_VALUES: truth + shared[seed] + values[seed]} if examples else {})} for seed in range(seeds)]
    return rows


def finding_4(cells: int, effect: float, seeds: int, rng, case: str = "null") -> Scenario:
    """Per full BigBird point at 0.78: the learned frontier above it (point 0 put on its bound). At
    ``d``: two tasks, t0's point on its bound and t1's clearly below its frontier, each point's
    sparsity drawn per seed around 0.78 so that their order by sparsity swaps."""
    def judge(runs, learned):
        return [learned_beats_bigbird(runs, learned, HIGH_SPARSITY)]

    if case == "d":
        runs, learned = [], []
        for k in range(2):
            jitter = list(SPARSITY + rng.uniform(-0.03, 0.03, seeds))
            runs.append(_runs({(f"bb{k}_g1_w1_r1", "bigbird", "all", "g=1 w=1 r=1"): (DENSE - 0.03, 1.0)}, seeds, rng,
                              task=f"t{k}", sparsity_by_seed={f"bb{k}_g1_w1_r1": jitter}))
            learned += _frontier(f"t{k}", effect or (0.0 if k == 0 else CLEAR), seeds, rng)
        return Scenario(pd.concat(runs, ignore_index=True), pd.DataFrame(learned), judge)
    # one frontier for every point of the task: a gain beyond it is the point lying below it
    points = {(f"bb{k}_g1_w1_r1", "bigbird", "all", "g=1 w=1 r=1"): (DENSE - 0.03 - _beyond(k, effect, case) +
                                                                     (effect if effect else 0.0), _scale(k, case))
              for k in range(cells)}
    learned = _frontier("t", effect, seeds, rng, scale=3.0 if case == "c" else 1.0, examples=_examples(case))
    return Scenario(_runs(points, seeds, rng, examples=_examples(case)), pd.DataFrame(learned), judge)


FINDINGS: dict[str, tuple[Callable, int, tuple[str, ...]]] = {
    # name: (simulate, cells in the reproduction config, the least favourable cases it has)
    "1 late costs little, all more": (finding_1, 4, CASES),
    "2 neighbour, random least damaging": (finding_2, 1, CASES),
    "3 removing w hurts most": (finding_3, 2, CASES),
    "4 learned beats BigBird": (finding_4, 3, (*CASES, "d")),
}


def _as_judged(scenario: Scenario, case: str) -> Scenario:
    return scenario.seeds_only() if case == "e0" else scenario


def rates(simulate: Callable, cells: int, effect: float, seeds: int, draws: int, seed: int = 0,
          case: str = "null") -> dict:
    """Over ``draws`` synthetic tables: the share of verdicts that are definitive (false at a
    null) or supported."""
    rng = np.random.default_rng(seed)
    verdicts = [_as_judged(simulate(cells, effect, seeds, rng, case), case).verdict() for _ in range(draws)]
    return {"definitive": float(np.mean([v != CANNOT_TELL for v in verdicts])),
            "supported": float(np.mean([v == SUPPORTED for v in verdicts]))}


def sequential_rates(simulate: Callable, cells: int, effect: float, design, draws: int, seed: int = 0,
                     case: str = "null") -> dict:
    """Over ``draws`` synthetic tables holding ``design.max`` seeds of every cell, the design run
    look by look as the workflow runs it (sequential.run_design): the share of verdicts that are
    definitive or supported, and the mean seeds a run group used."""
    from .sequential import run_design

    rng = np.random.default_rng(seed)
    verdicts, seeds = [], []
    for _ in range(draws):
        scenario = _as_judged(simulate(cells, effect, design.max, rng, case), case)
        found, used, learned_used = run_design(design, scenario.runs, scenario.learned_runs, scenario.judge)
        verdicts.append(found[0].verdict)
        tables = [(used, scenario.runs)] + ([(learned_used, scenario.learned_runs)] if learned_used is not None else [])
        seeds.append(sum(len(u) for u, _ in tables) / sum(len(t) for _, t in tables) * design.max)
    return {"definitive": float(np.mean([v != CANNOT_TELL for v in verdicts])),
            "supported": float(np.mean([v == SUPPORTED for v in verdicts])), "seeds": float(np.mean(seeds))}


def _standard_error(rate: float, draws: int) -> float:
    return float(np.sqrt(max(rate * (1 - rate), 1e-12) / draws))


def _designs(sequential: tuple[int, int, int]):
    from .sequential import Design

    return {"fixed, 3 seeds": Design(3, 3, 1), f"sequential, looks at {', '.join(map(str, Design(*sequential).looks))}":
            Design(*sequential)}


def _rate(simulate, cells, effect, design, draws, seed, case) -> dict:
    if design.sequential:
        return sequential_rates(simulate, cells, effect, design, draws, seed, case)
    return {**rates(simulate, cells, effect, design.max, draws, seed, case), "seeds": float(design.max)}


def _null_row(job: tuple) -> dict:
    name, case, label, design, draws = job
    simulate, cells, _ = FINDINGS[name]
    found = _rate(simulate, cells, 0.0, design, draws, 0, case)
    se = _standard_error(found["definitive"], draws)
    return {"finding": name, "cells": cells, "case": case, "design": label, "draws": draws,
            "false definitive": found["definitive"], "SE": se, "within 5% + 2 SE": found["definitive"] <= 0.05 + 2 * se,
            "seeds per run": found["seeds"]}


def _power_row(job: tuple) -> dict:
    name, effect, label, design, draws, case = job
    simulate, cells, _ = FINDINGS[name]
    found = _rate(simulate, cells, effect, design, draws, 1, case)
    return {"finding": name, "cells": cells, "interval": "about the task" if case == "e" else "about the eval set",
            "effect": effect, "design": label, "draws": draws,
            "power (supported)": found["supported"], "SE": _standard_error(found["supported"], draws),
            "seeds per run": found["seeds"]}


def _map(function: Callable, jobs: list, processes: int) -> list:
    """Each job in a process of its own (the draws of one configuration stay in one process, seeded)."""
    if processes <= 1:
        return [function(job) for job in jobs]
    from multiprocessing import get_context

    with get_context("spawn").Pool(processes) as pool:
        return pool.map(function, jobs, chunksize=1)


def null_table(draws: int = 4000, sequential=(3, 7, 2), findings=None, cases=None, processes: int = 1) -> pd.DataFrame:
    """Each finding's false-definitive rate at each least favourable null, fixed and sequential."""
    jobs = [(name, case, label, design, draws) for name, (_, _, own_cases) in FINDINGS.items()
            if not findings or name[0] in findings for case in own_cases if not cases or case in cases
            for label, design in _designs(sequential).items()]
    return pd.DataFrame(_map(_null_row, jobs, processes))


def power_table(draws: int = 1000, effects=(0.02, 0.03), sequential=(3, 7, 2), processes: int = 1,
                cases=("null", "e")) -> pd.DataFrame:
    """Each finding's power (share supported) at each effect, every cell that far beyond its bound:
    on tables without per-example values (``null``: the seeds' interval) and with them (``e``: the
    interval about the task)."""
    jobs = [(name, effect, label, design, draws, case) for name in FINDINGS for case in cases for effect in effects
            for label, design in _designs(sequential).items()]
    return pd.DataFrame(_map(_power_row, jobs, processes))


if __name__ == "__main__":
    from .aggregate import to_markdown

    if sys.argv[1:2] in (["aa"], ["aso"]):
        from .calibration_aa import main

        main(sys.argv[1:])
        sys.exit()
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    options = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    draws, processes = int(arguments[0]) if arguments else 4000, int(options.get("processes", 1))
    cases = options["cases"].split(",") if options.get("cases") else [c for c in (*CASES, "d") if c != "null"]
    if options.get("findings"):
        options["findings"] = options["findings"].split(",")
    print(f"run noise {RUN_NOISE}, seed noise {SEED_NOISE}; cases {', '.join(cases)} (docs/EXPERIMENTS.md)")
    print(to_markdown(null_table(draws, findings=options.get("findings"), cases=cases, processes=processes),
                      float_format="{:.4f}"), flush=True)
    if options.get("power", "yes") != "no":
        power_cases = options.get("power_cases", "null,e").split(",")
        print(to_markdown(power_table(int(options.get("power_draws", 1000)), processes=processes, cases=power_cases),
                          float_format="{:.4f}"))
