"""The synthetic runs tables of the rule's calibration (draws.py): each finding's cells at a
chosen truth, at its least favourable nulls (the cases draws.py lists) or a set effect
beyond every bound, judged by the finding's own code."""


from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..stats.differences import COLLAPSED, EVAL_VALUES
from ..findings.cells import HIGH_SPARSITY, NEGLIGIBLE_DROP, SPARSITY_TOLERANCE
from ..findings.fixed import late_vs_all_layers, least_damaging_patterns, removing_neighbour_hurts_most
from ..findings.learned import learned_beats_bigbird
from ..vocabulary import BASELINE_KIND, degree_columns, parse_degrees

RUN_NOISE = 0.012  # SD of one run around its cell's truth
SEED_NOISE = 0.006  # SD of the effect a seed has on every cell it runs
DENSE = 0.80
MARGIN = NEGLIGIBLE_DROP["accuracy"]
SPARSITY = 0.78
CLEAR = 0.10  # "clearly true": this far beyond the bound (~10 standard errors of a paired difference at 3 seeds)
CASES = ("null", "a", "b2", "b3", "c", "e", "e0", "e01", "f", "f0")
EXAMPLES = 100  # the eval set of cases e and e0
EXAMPLE_NOISE = RUN_NOISE * EXAMPLES**0.5  # per example: its mean over the set has the run noise's SD
SCALE = {"b2": 2.0, "b3": 3.0}  # the run SD of the cell on its bound, in units of the others'
COLLAPSE_RATE, CHANCE = 0.10, 0.50  # case f: each run collapses to chance this often
# case e01: a cell's luck on an example, in probability of getting it right (its mean over 100
# examples then has an SD of 0.01, as large as a run's noise, like case e's)
BINARY_LUCK = 0.10


def _draw(rng, centre: np.ndarray, scale: float, examples: bool | str):
    """Per seed, a run's score around ``centre`` (the cell's truth plus the seed's shared effect)
    and (``examples``) its per-example values: the cell's own luck on each example of this eval set
    (shared by its seeds) plus each run's own, so that the mean over the examples is the run's
    score. ``binary`` (case e01): each example right or wrong, as accuracy's values are, with
    probability centre + the cell's luck on it (SD BINARY_LUCK) + the run's own shift."""
    seeds = len(centre)
    if not examples:
        return centre + rng.normal(0, RUN_NOISE * scale, seeds), [None] * seeds
    if examples == "binary":
        luck = rng.normal(0, BINARY_LUCK * scale, EXAMPLES)
        chance = centre[:, None] + luck[None, :] + rng.normal(0, RUN_NOISE * scale, seeds)[:, None]
        values = (rng.random((seeds, EXAMPLES)) < np.clip(chance, 0, 1)).astype(float)
        return values.mean(axis=1), list(values)
    luck = rng.normal(0, EXAMPLE_NOISE * scale, EXAMPLES)
    values = centre[:, None] + luck[None, :] + rng.normal(0, EXAMPLE_NOISE * scale, (seeds, EXAMPLES))
    return values.mean(axis=1), list(values)


def _trained(truth: float, case: str) -> float:
    """The mean score of a cell's runs that train, such that with case f's collapses (to CHANCE at
    COLLAPSE_RATE) the mean over all its runs is ``truth``: the truth is about every run made."""
    return (truth - COLLAPSE_RATE * CHANCE) / (1 - COLLAPSE_RATE) if case in ("f", "f0") else truth


def _collapses(rng, seeds: int, case: str) -> dict:
    """Case f: which of a cell's runs collapsed (the COLLAPSED column), each with COLLAPSE_RATE."""
    return {COLLAPSED: rng.random(seeds) < COLLAPSE_RATE} if case in ("f", "f0") else {}


def _collapse(rows: list[dict], collapsed: dict) -> list[dict]:
    """The rows with the runs marked collapsed scoring chance (their truth lost), as a finetune that
    collapsed to one class does; no column where the case has no collapses."""
    if not collapsed:
        return rows
    return [{**row, COLLAPSED: bool(flag), **({"score": CHANCE} if flag else {})}
            for row, flag in zip(rows, collapsed[COLLAPSED])]


def _runs(cells: dict, seeds: int, rng, task: str = "t", dense_noise: float = 1.0,
          sparsity_by_seed: dict | None = None, examples: bool | str = False, case: str = "") -> pd.DataFrame:
    """cells: {(pattern, kind, placement, degrees): (truth, noise scale)}, plus the dense cell, as
    a runs table; ``sparsity_by_seed``: {pattern: per-seed sparsity} where it varies by seed;
    ``examples``: each run's per-example values in the EVAL_VALUES column; ``case`` f: runs that
    collapsed (_collapses)."""
    shared = rng.normal(0, SEED_NOISE, seeds)
    rows = []
    for (pattern, kind, placement, degrees), (truth, scale) in {("dense", BASELINE_KIND, "none", ""): (DENSE, dense_noise),
                                                                 **cells}.items():
        sparsity = [0.0 if kind == BASELINE_KIND else SPARSITY] * seeds
        sparsity = (sparsity_by_seed or {}).get(pattern, sparsity)
        scores, values = _draw(rng, _trained(truth, case) + shared, scale, examples)
        cell = []
        for seed in range(seeds):
            cell.append({"task": task, "pattern": pattern, "kind": kind, "placement": placement, "degrees": degrees,
                         **degree_columns(parse_degrees(degrees) if degrees else None), "seed": seed,
                         "metric": "accuracy", "score": scores[seed],
                         "sparsity_mean": sparsity[seed], "effective_sparsity_mean": sparsity[seed],
                         "train_samples_per_second": 1.0, **({EVAL_VALUES: values[seed]} if examples else {})})
        rows += _collapse(cell, _collapses(rng, seeds, case))
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

    def without(self, column: str) -> "Scenario":
        """The same tables without a column: the per-example values (case e0) or the collapse
        marks (f0)."""
        def drop(table):
            return None if table is None else table.drop(columns=[column], errors="ignore")
        return Scenario(drop(self.runs), drop(self.learned_runs), self.judge)


def _beyond(k: int, effect: float, case: str) -> float:
    """How far cell k's first part lies beyond its bound: ``effect`` for power; at a null, 0 where
    that part is on its bound (every cell at ``null`` and ``c``, cell 0 otherwise), else CLEAR."""
    if effect:
        return effect
    return 0.0 if case in ("null", "c", "e", "e0", "e01") or k == 0 else CLEAR


def _examples(case: str) -> bool | str:
    return "binary" if case == "e01" else case in ("e", "e0")


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
    runs = _runs(table, seeds, rng, dense_noise=3.0 if case == "c" else 1.0, examples=_examples(case), case=case)
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
        frames.append(_runs(table, seeds, rng, task=f"t{k}", examples=_examples(case), case=case))
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
    return Scenario(_runs(table, seeds, rng, examples=_examples(case), case=case), None,
                    lambda runs, _: [removing_neighbour_hurts_most(runs, SPARSITY_TOLERANCE)])


def _frontier(task: str, gain: float, seeds: int, rng, scale: float = 1.0, examples: bool | str = False,
              case: str = "") -> list[dict]:
    """A learned frontier (targets 0.70 and 0.85) through the BigBird truth + ``gain`` at SPARSITY."""
    shared = rng.normal(0, SEED_NOISE, seeds)
    slope = -0.2  # score per unit of sparsity along the frontier
    rows = []
    for target in (0.70, 0.85):
        truth = DENSE - 0.03 + gain + slope * (target - SPARSITY)
        scores, values = _draw(rng, _trained(truth, case) + shared, scale, examples)
        rows += _collapse([{"task": task, "variant": "regular", "setting": f"target{target}", "seed": seed,
                            "score": scores[seed], "sparsity_mean": target, "effective_sparsity_mean": target,
                            **({EVAL_VALUES: values[seed]} if examples else {})}
                           for seed in range(seeds)], _collapses(rng, seeds, case))
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
    learned = _frontier("t", effect, seeds, rng, scale=3.0 if case == "c" else 1.0, examples=_examples(case), case=case)
    return Scenario(_runs(points, seeds, rng, examples=_examples(case), case=case), pd.DataFrame(learned), judge)


FINDINGS: dict[str, tuple[Callable, int, tuple[str, ...]]] = {
    # name: (simulate, cells in the reproduction config, the least favourable cases it has)
    "1 late costs little, all more": (finding_1, 4, CASES),
    "2 neighbour, random least damaging": (finding_2, 1, CASES),
    "3 removing w hurts most": (finding_3, 2, CASES),
    "4 learned beats BigBird": (finding_4, 3, (*CASES, "d")),
}
