"""A difference of scores between two cells, with its interval: paired by seed over the seeds both
ran, else Welch's with Satterthwaite's degrees of freedom. Its interval's width is at the current
look's level (spending.t_critical); decision.py turns it into a verdict.

Each difference keeps its own spread, on its own degrees of freedom. Nothing is pooled across
comparisons: a finding's comparisons share baselines (finding 1's late - dense share the dense
runs, finding 2's four contrasts carry three independent ones per seed) and need not have equal
spreads, and a pooled spread's degrees of freedom would count the shared runs more than once (the
effective df of finding 2's four at 3 seeds are ~5, not the pooled 8). The per-seed differences of
one comparison are independent across seeds whatever the covariance between cells, so its paired t
is exact under any dependence and any spreads (given roughly normal per-seed differences); Holm's
correction over a finding's comparisons (decision.py) needs no independence either. A pre-test of equal spreads to decide pooling has no
power at 3 seeds, so none is made.

Where both cells carry their runs' per-example values (``Scores.examples``: the eval predictions'
jackknife values, eval_sampling.influence_values), a paired difference's standard error also
covers the sampling of the eval set: the variance a crossed seeds x examples model gives the mean
beyond what the seeds show (``crossed_variances``), so that the interval is about the task rather
than this eval set. Its degrees of freedom are Satterthwaite's for that sum of mean squares (the
seeds' n - 1 alone made the test far too conservative: 0.1% false verdicts per side against 2.5%).
Where some seed of either cell kept no predictions the interval is the seeds' alone, about this
eval set, and says so.
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
# a runs table's optional column of per-example values (eval_sampling.attach_eval_values): the
# findings' Scores carry them, and each difference's interval then covers the eval set's sampling
EVAL_VALUES = "eval_values"
# a runs table's optional column: True for a run that predicted one class for every eval example
# (eval_sampling.attach_eval_values). Its score counts like any run's (a collapse is part of what a
# pattern costs), but no claim is supported by one (decision.py)
COLLAPSED = "collapsed"


@dataclass(frozen=True)
class Difference:
    """A difference of scores (first cell minus second) with its 95% interval over n seeds."""

    mean: float
    std: float  # of the per-seed differences (paired), or the Welch standard error times sqrt(n)
    n: int
    paired: bool
    note: str = ""  # how the cells were paired, or why there is no estimate
    deltas: tuple = ()  # the per-seed differences, when paired
    # degrees of freedom when not n - 1: Welch-Satterthwaite (unpaired), or Satterthwaite's for the
    # seeds' and the eval set's parts together (eval_variance > 0)
    df: float | None = None
    # the variance of the mean that the sampling of the eval set adds (crossed_variances); 0 where
    # the cells carry no per-example values (the interval is then about this eval set)
    eval_variance: float = 0.0
    # the run groups the two cells' scores came from (findings.cells.run_groups): a sequential
    # design gives an undecided comparison's groups more seeds
    reads: frozenset = frozenset()
    # the seeds whose run collapsed to one class (COLLAPSED), in the first cell and in the second
    collapsed: tuple = ((), ())

    @property
    def degrees_of_freedom(self) -> float:
        return self.df if self.df is not None else self.n - 1

    @property
    def standard_error(self) -> float:
        """Of the mean difference: the seeds' std / sqrt(n), with the eval set's part where known."""
        return math.sqrt(self.std**2 / self.n + self.eval_variance)

    @property
    def half_width(self) -> float:
        return t_critical(self.degrees_of_freedom) * self.standard_error if self.n >= 2 else math.inf

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
        df = f", df={self.df:.1f}" if self.df is not None else ""
        examples = f", eval set se {math.sqrt(self.eval_variance):.3f}" if self.eval_variance > 0 else ""
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}] (n={self.n}{df}{examples})"

    def p_value(self, bound: float, side: str) -> float:
        """One-sided p-value of the claim that the true difference is on ``side`` ('above' or
        'below') of ``bound``: small when the data put it there; NaN without a spread."""
        # Student's t distribution function itself (scipy.stats.t's cdf through its wrapper costs
        # ~1 ms a call, a third of a calibration's time)
        from scipy.special import stdtr

        if self.n < 2 or not self.std > NO_SPREAD:
            return math.nan
        statistic = (self.mean - bound) / self.standard_error
        return float(stdtr(self.degrees_of_freedom, -statistic if side == "above" else statistic))

    def seeds_needed(self, bound: float) -> int | None:
        """Seeds at which the interval would clear ``bound`` with 80% power, if the true difference
        and spread were the observed ones; None without a spread to go by or beyond MAX_SEEDS (or
        where the eval set's part alone keeps the interval from clearing it: more seeds do not shrink
        it, a larger eval set would)."""
        from scipy.special import ndtri, stdtrit  # the t and normal quantiles without scipy.stats' wrappers

        distance = abs(self.mean - bound)
        if self.n < 2 or not self.std > NO_SPREAD or distance == 0:
            return None
        seeds = np.arange(max(self.n, MIN_DEFINITIVE_SEEDS), MAX_SEEDS + 1)
        reach = (stdtrit(seeds - 1, 1 - level()) + ndtri(POWER)) * np.sqrt(self.std**2 / seeds + self.eval_variance)
        enough = np.flatnonzero(reach < distance)
        return int(seeds[enough[0]]) if len(enough) else None

    def eval_set_blocks(self, bound: float) -> bool:
        """Whether no number of seeds would clear ``bound`` with 80% power: as seeds grow the t
        quantile tends to the normal one and the seeds' part of the spread to 0, leaving the eval
        set's sampling alone, here already wider than the distance to the bound."""
        from scipy.special import ndtri

        reach = (ndtri(1 - level()) + ndtri(POWER)) * math.sqrt(self.eval_variance)
        return self.eval_variance > 0 and reach >= abs(self.mean - bound)


def standard_error_of_difference(std_a, n_a, std_b, n_b):
    """Of a difference of two means from independent samples: sqrt(s_a^2 / n_a + s_b^2 / n_b)
    (works on numbers and on pandas columns alike)."""
    return (std_a**2 / n_a + std_b**2 / n_b) ** 0.5


def difference(first: dict, second: dict) -> Difference:
    """first/second: seed -> score of two cells. Paired over the shared seeds when there are >= 2.
    Where they carry the run groups they were read from (findings.cells.Scores), so does the
    difference."""
    reads = frozenset(getattr(first, "groups", ())) | frozenset(getattr(second, "groups", ()))
    found = replace(_difference(first, second), reads=reads)
    used = set(first) & set(second) if found.paired else set(first) | set(second)
    collapsed = tuple(tuple(sorted(used & set(getattr(cell, "collapsed", ())))) for cell in (first, second))
    if any(collapsed):
        found = replace(found, collapsed=collapsed)
    examples = [getattr(cell, "examples", {}) for cell in (first, second)]
    if not any(examples):
        return found
    if not found.paired:  # Welch's interval has no crossed model to take the eval set's part from
        return replace(found, note="; ".join(filter(None, [found.note, "interval about this eval set only (unpaired)"])))
    seeds = sorted(set(first) & set(second))
    missing = sorted({seed for values in examples for seed in seeds if seed not in values})
    per_seed = [examples[0][seed] - examples[1][seed] for seed in seeds] if not missing else []
    if missing or len({len(values) for values in per_seed}) != 1:
        why = (f"seed(s) {missing} kept no eval predictions" if missing else "the runs were evaluated on different sets")
        return replace(found, note="; ".join(filter(None, [found.note, f"interval about this eval set only ({why})"])))
    _, eval_part, eval_terms = crossed_variances(np.stack(per_seed))
    if eval_part <= 0:
        return found
    seed_part = found.std**2 / found.n
    # Satterthwaite: the seeds' variance on n - 1 df, the eval set's on its mean squares' df
    df = (seed_part + eval_part) ** 2 / (seed_part**2 / (found.n - 1) + eval_terms)
    return replace(found, eval_variance=eval_part, df=float(df))


def crossed_variances(values: np.ndarray) -> tuple[float, float, float]:
    """(seed part, eval-set part, the eval-set part's Satterthwaite term) of the variance of the
    mean of a (seeds, examples) table under a crossed model y = mu + seed + example + residual:
    MS_seed / (S I), which is the variance of the seeds' means over S (what the seeds' interval
    uses); max(0, MS_example - MS_residual) / (S I), which estimates var(example) / I, what drawing
    another eval set adds; and (MS_example / (S I))^2 / (I - 1) + (MS_residual / (S I))^2 / ((S - 1)
    (I - 1)), its share of Satterthwaite's denominator. With one seed the seed part is NaN and the
    eval-set part var(examples) / I (residual included: the two cannot be told apart)."""
    seeds, examples = values.shape
    grand = values.mean()
    if seeds < 2:
        return float("nan"), float(values[0].var(ddof=1) / examples), math.nan
    by_seed, by_example = values.mean(axis=1), values.mean(axis=0)
    cells = seeds * examples
    seed_square = examples * ((by_seed - grand) ** 2).sum() / (seeds - 1)
    example_square = seeds * ((by_example - grand) ** 2).sum() / (examples - 1)
    residual = values - by_seed[:, None] - by_example[None, :] + grand
    residual_square = (residual**2).sum() / ((seeds - 1) * (examples - 1))
    eval_part = max(0.0, example_square - residual_square) / cells
    terms = (example_square / cells) ** 2 / (examples - 1) + (residual_square / cells) ** 2 / ((seeds - 1) * (examples - 1))
    return float(seed_square / cells), float(eval_part), float(terms)


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
    var_a, var_b = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    standard_error = float(math.sqrt(var_a + var_b))
    # Welch-Satterthwaite, never more than the two samples' n - 1 summed
    df = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1)) if var_a + var_b > 0 else n - 1
    return Difference(mean, standard_error * math.sqrt(n), n, False, note, df=float(df))
