"""The decision rule on real runs whose truth is known: the A/A run of config/calibration_aa.yaml
(conditions that are the same under two names, where a definitive verdict either way is false),
and almost stochastic order (deepsig), the test NLP reviewers know for comparing models over
seeds, set beside the rule on the same cells.

``./run.sh calibrate aa results/calibration_aa/tables/runs.csv`` and ``./run.sh calibrate aso results/<config>/tables/runs.csv``.
"""

from __future__ import annotations

import math

import pandas as pd

from ..stats.decision import CANNOT_TELL, SUPPORTED, decide, judge_cells
from ..stats.differences import difference
from ..vocabulary import BASELINE_KIND


def _block(cell: pd.DataFrame, seeds) -> dict[int, float]:
    """Scores of ``seeds``, relabelled 0, 1, ... so that two blocks pair in order."""
    by_seed = dict(zip(cell["seed"].astype(int), cell["score"].astype(float)))
    return {k: by_seed[s] for k, s in enumerate(seeds) if s in by_seed}


AA_COMPARISONS = [
    # (first pattern, its seeds, second pattern, its seeds): the same condition on both sides. No
    # run takes part in two comparisons, so they are independent chances of a false verdict.
    ("random", range(0, 3), "random_twin", range(0, 3)),
    ("random", range(3, 6), "random_twin", range(3, 6)),
    ("random", range(6, 9), "random_twin", range(6, 9)),
    ("dense", range(0, 3), "dense", range(3, 6)),
    ("dense", range(6, 8), "dense", range(8, 10)),
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


# deepsig's documentation recommends eps_min < 0.2 for a type I error near the nominal level (0.5
# is the threshold of the original paper, which it finds too liberal); both eps_min are printed
ASO_THRESHOLD = 0.2


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
    from ..findings.cells import _scores

    cells = runs[runs["kind"] != BASELINE_KIND].drop_duplicates(["task", "pattern", "placement"])
    measured = []
    for cell in cells.itertuples():
        dense = _scores(runs, task=cell.task, kind=BASELINE_KIND)
        scores = _scores(runs, task=cell.task, pattern=cell.pattern, placement=cell.placement)
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
                     "ASO eps_min cell>dense": above, "ASO eps_min dense>cell": below,
                     f"ASO (eps_min < {ASO_THRESHOLD})": aso, "agree": aso == ours})
    return pd.DataFrame(rows)


def main(arguments: list[str]) -> None:
    from ..tables import to_markdown

    runs = pd.read_csv(arguments[1], keep_default_na=False, na_values=[""])
    table = aa_table(runs) if arguments[0] == "aa" else aso_side_by_side(runs)
    print(to_markdown(table, float_format="{:.3f}"))
