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
  the same tables without them (the seeds' interval alone, about the eval set), for comparison;
  ``e01``: as ``e`` with accuracy's own per-example values, each example right or wrong (0/1);
- ``f``: as ``a``, with every run of every cell collapsing to chance (one class predicted) 10% of
  the time, marked as the runs table marks it (differences.COLLAPSED); the truth is the mean over
  all runs, collapses included (the runs that train score higher); ``f0`` judges the same tables
  without the marks, for comparison. A collapse rate in one cell alone, too rare to show among the
  seeds run, is beyond any rule at a few seeds (docs/EXPERIMENTS.md).

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

from collections.abc import Callable

import numpy as np
import pandas as pd

from .scenarios import FINDINGS, Scenario
from ..stats.decision import CANNOT_TELL, SUPPORTED
from ..stats.differences import COLLAPSED, EVAL_VALUES


def _as_judged(scenario: Scenario, case: str) -> Scenario:
    unmarked = {"e0": EVAL_VALUES, "f0": COLLAPSED}.get(case)
    return scenario.without(unmarked) if unmarked else scenario


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
    from ..stats.sequential import run_design

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
    from ..stats.sequential import Design

    return {"fixed, 3 seeds": Design(3, 3, 1), f"sequential, looks at {', '.join(map(str, Design(*sequential).looks))}":
            Design(*sequential)}


def _rate(simulate, cells, effect, design, draws, seed, case) -> dict:
    if design.sequential:
        return sequential_rates(simulate, cells, effect, design, draws, seed, case)
    return {**rates(simulate, cells, effect, design.max, draws, seed, case), "seeds": float(design.max)}


def _null_row(job: tuple) -> dict:
    name, case, label, design, draws, cells = job
    simulate, default_cells, _ = FINDINGS[name]
    cells = cells or default_cells
    found = _rate(simulate, cells, 0.0, design, draws, 0, case)
    se = _standard_error(found["definitive"], draws)
    # each side spends 2.5%: false support shown on its own (the rest are false refutations)
    return {"finding": name, "cells": cells, "case": case, "design": label, "draws": draws,
            "false definitive": found["definitive"], "SE": se, "within 5% + 2 SE": found["definitive"] <= 0.05 + 2 * se,
            "false support": found["supported"], "SE of support": _standard_error(found["supported"], draws),
            "seeds per run": found["seeds"]}


def _power_row(job: tuple) -> dict:
    name, effect, label, design, draws, case = job
    simulate, cells, _ = FINDINGS[name]
    found = _rate(simulate, cells, effect, design, draws, 1, case)
    return {"finding": name, "cells": cells, "interval": "about the task" if case == "e" else "about the eval set",
            "effect": effect, "design": label, "draws": draws,
            "power (supported)": found["supported"], "SE": _standard_error(found["supported"], draws),
            "seeds per run": found["seeds"]}


def _map(function: Callable, jobs: list, processes: int, each: Callable = lambda row: None) -> list:
    """Each job in a process of its own (the draws of one configuration stay in one process,
    seeded); ``each`` sees every row as it is done (a long calibration shows its rows as it goes)."""
    rows = []
    if processes <= 1:
        for job in jobs:
            rows.append(function(job))
            each(rows[-1])
        return rows
    from multiprocessing import get_context

    with get_context("spawn").Pool(processes) as pool:
        for row in pool.imap(function, jobs, chunksize=1):
            rows.append(row)
            each(row)
    return rows


def null_table(draws: int = 4000, sequential=(3, 7, 2), findings=None, cases=None, processes: int = 1,
               each: Callable = lambda row: None, designs=("fixed", "sequential"), cells: int | None = None) -> pd.DataFrame:
    """Each finding's false-definitive rate at each least favourable null, fixed and sequential (the
    fixed design's rows first: they are the quicker); ``cells``: instead of the reproduction
    configs' number (finding 2 over several tasks, say)."""
    jobs = [(name, case, label, design, draws, cells) for label, design in _designs(sequential).items()
            if label.split(",")[0] in designs
            for name, (_, _, own_cases) in FINDINGS.items() if not findings or name[0] in findings
            for case in own_cases if not cases or case in cases]
    return pd.DataFrame(_map(_null_row, jobs, processes, each))


def power_table(draws: int = 1000, effects=(0.02, 0.03), sequential=(3, 7, 2), processes: int = 1,
                cases=("null", "e"), each: Callable = lambda row: None) -> pd.DataFrame:
    """Each finding's power (share supported) at each effect, every cell that far beyond its bound:
    on tables without per-example values (``null``: the seeds' interval) and with them (``e``: the
    interval about the task)."""
    jobs = [(name, effect, label, design, draws, case) for label, design in _designs(sequential).items()
            for name in FINDINGS for case in cases for effect in effects]
    return pd.DataFrame(_map(_power_row, jobs, processes, each))


def _printer(float_format: str = "{:.4f}") -> Callable:
    """Prints each row as a Markdown table row as it comes, the header before the first."""
    from ..tables import cell_text as _cell_text

    shown = []

    def show(row: dict) -> None:
        if not shown:
            print("| " + " | ".join(row) + " |\n| " + " | ".join("---" for _ in row) + " |")
            shown.append(True)
        print("| " + " | ".join(_cell_text(value, float_format) for value in row.values()) + " |", flush=True)
    return show

