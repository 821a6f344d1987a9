"""A difference of scores between two cells, with its interval: paired by seed over the seeds both
ran, else Welch-style; and ``pool``, one spread over a finding's cells. Its interval's width is at
the current look's level (spending.t_critical); decision.py turns it into a verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .spending import level, t_critical

MIN_DEFINITIVE_SEEDS = 3  # two seeds tie on an accuracy step often enough to fake a zero spread
POWER = 0.8  # the seeds quoted for an undecided comparison give this power
MAX_SEEDS = 100  # beyond this a difference is called unresolvable rather than given a seed count
NO_SPREAD = 1e-9  # a spread below this is float rounding of equal differences, not a measured spread


@dataclass(frozen=True)
class Difference:
    """A difference of scores (first cell minus second) with its 95% interval over n seeds."""

    mean: float
    std: float  # of the per-seed differences (paired) or the pooled standard error times sqrt(n)
    n: int
    paired: bool
    note: str = ""  # how the cells were paired, or why there is no estimate
    deltas: tuple = ()  # the per-seed differences, when paired
    df: int | None = None  # degrees of freedom of ``std``: n - 1, or more when pooled over cells (pool)
    # the run groups the two cells' scores came from (findings.cells.run_groups): a sequential
    # design gives an undecided comparison's groups more seeds
    reads: frozenset = frozenset()

    @property
    def degrees_of_freedom(self) -> int:
        return self.df if self.df is not None else self.n - 1

    @property
    def half_width(self) -> float:
        return t_critical(self.degrees_of_freedom) * self.std / math.sqrt(self.n) if self.n >= 2 else math.inf

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def estimable(self) -> bool:
        return self.n >= 1 and not math.isnan(self.mean)

    def __str__(self) -> str:
        if not self.estimable:
            return f"no estimate ({self.note})"
        if self.n < 2:
            return f"{self.mean:+.3f} (1 seed: no interval)"
        pooled = f", pooled df={self.df}" if self.df is not None else ""
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}] (n={self.n}{pooled})"

    def p_value(self, bound: float, side: str) -> float:
        """One-sided p-value of the claim that the true difference is on ``side`` ('above' or
        'below') of ``bound``: small when the data put it there; NaN without a spread."""
        from scipy.stats import t

        if self.n < 2 or not self.std > NO_SPREAD:
            return math.nan
        statistic = (self.mean - bound) / (self.std / math.sqrt(self.n))
        df = self.degrees_of_freedom
        return float(t.sf(statistic, df) if side == "above" else t.cdf(statistic, df))

    def seeds_needed(self, bound: float) -> int | None:
        """Seeds at which the interval would clear ``bound`` with 80% power, if the true difference
        and spread were the observed ones; None without a spread to go by or beyond MAX_SEEDS."""
        from scipy.stats import norm, t

        distance = abs(self.mean - bound)
        if self.n < 2 or not self.std > NO_SPREAD or distance == 0:
            return None
        seeds = np.arange(max(self.n, MIN_DEFINITIVE_SEEDS), MAX_SEEDS + 1)
        cells = self.degrees_of_freedom / max(self.n - 1, 1)  # a pooled spread's df grows with every cell's seeds
        reach = (t.ppf(1 - level(), (seeds - 1) * cells) + norm.ppf(POWER)) * self.std / np.sqrt(seeds)
        enough = np.flatnonzero(reach < distance)
        return int(seeds[enough[0]]) if len(enough) else None


def standard_error_of_difference(std_a, n_a, std_b, n_b):
    """Of a difference of two means from independent samples: sqrt(s_a^2 / n_a + s_b^2 / n_b)
    (works on numbers and on pandas columns alike)."""
    return (std_a**2 / n_a + std_b**2 / n_b) ** 0.5


def difference(first: dict, second: dict) -> Difference:
    """first/second: seed -> score of two cells. Paired over the shared seeds when there are >= 2.
    Where they carry the run groups they were read from (findings.cells.Scores), so does the
    difference."""
    reads = frozenset(getattr(first, "groups", ())) | frozenset(getattr(second, "groups", ()))
    return replace(_difference(first, second), reads=reads)


def _difference(first: dict, second: dict) -> Difference:
    if not first or not second:
        return Difference(math.nan, math.nan, 0, False, "no runs in " + ("either cell" if not first and not second
                                                                          else "one of the two cells"))
    missing = sorted(seed for cell in (first, second) for seed, score in cell.items() if score != score)
    if missing:
        return Difference(math.nan, math.nan, 0, False, f"no score (NaN) for seed(s) {missing}")
    shared = sorted(set(first) & set(second))
    if len(shared) >= 2:
        deltas = np.array([first[s] - second[s] for s in shared], dtype=float)
        unpaired = len(set(first) ^ set(second))
        note = f"paired on the {len(shared)} seeds both ran; {unpaired} run(s) of one cell only left out" if unpaired else ""
        return Difference(float(deltas.mean()), float(deltas.std(ddof=1)), len(shared), True, note, tuple(deltas))
    a, b = np.array(list(first.values()), dtype=float), np.array(list(second.values()), dtype=float)
    n = int(min(len(a), len(b)))
    mean = float(a.mean() - b.mean())
    note = "unpaired: the cells share fewer than 2 seeds" if n >= 2 else ""
    if n < 2:
        return Difference(mean, math.nan, n, False, note)
    standard_error = float(standard_error_of_difference(a.std(ddof=1), len(a), b.std(ddof=1), len(b)))
    return Difference(mean, standard_error * math.sqrt(n), n, False, note)


HOMOGENEITY_ALPHA = 0.05  # Bartlett's test below this: the cells' spreads differ, so no pooling


def pool(differences: list[Difference]) -> list[Difference]:
    """The paired differences of one comparison across a finding's cells, with one spread: the
    pooled variance of the per-seed differences, sum (n_i - 1) s_i^2 / sum (n_i - 1), on
    sum (n_i - 1) degrees of freedom (the residual variance of a model with one mean per cell).
    Three seeds give an interval t(2) = 4.30 spreads wide; pooled over 4 cells, t(8) = 2.31.

    Only where it is justified: cells paired over >= 2 seeds with a spread take part, and only when
    Bartlett's test (scipy) does not reject equal spreads (p >= 0.05; with 3 seeds a cell it has
    little power, which the calibration simulation's null, with equal spreads, does not test);
    otherwise every difference keeps its own interval and says why. The others are returned as
    they are."""
    from scipy.stats import bartlett

    members = [i for i, d in enumerate(differences) if d.paired and d.n >= 2 and d.std > NO_SPREAD and len(d.deltas) == d.n]
    if len(members) < 2:
        return list(differences)
    chosen = [differences[i] for i in members]
    homogeneity = float(bartlett(*[np.asarray(d.deltas) for d in chosen]).pvalue)
    pooled = list(differences)
    if homogeneity < HOMOGENEITY_ALPHA:
        for i in members:
            note = f"spreads differ across the {len(members)} cells (Bartlett p = {homogeneity:.3f}): not pooled"
            pooled[i] = replace(differences[i], note="; ".join(filter(None, [differences[i].note, note])))
        return pooled
    df = sum(d.n - 1 for d in chosen)
    spread = math.sqrt(sum((d.n - 1) * d.std**2 for d in chosen) / df)
    for i in members:
        pooled[i] = replace(differences[i], std=spread, df=df)
    return pooled
