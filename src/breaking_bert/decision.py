"""The one decision rule every finding uses (statistics in one place).

A comparison is a difference of scores between two cells (e.g. a masked cell minus dense). Its
estimate is the mean difference with a two-sided 95% t interval on n - 1 degrees of freedom (or on
the pooled degrees of freedom of its finding's cells, ``pool``):
paired by seed over the seeds both cells ran (the tables show that paired n, and say when a cell
ran seeds the other did not), else Welch-style from the two cells' means and spreads with the
smaller cell's n - 1 degrees of freedom (conservative). A claim about the difference ("below a
bound" or "above a bound") then has three outcomes:

- supported: the whole interval is on the claimed side of the bound (a one-sided test at 2.5%);
- not supported: the whole interval is on the other side (for "costs little", an equivalence
  test: the interval's lower end above ``-negligible_drop`` supports it, its upper end below
  refutes it);
- cannot tell: the interval straddles the bound; or fewer than 3 paired seeds, or no spread
  across them, or a cell without a score: the outcome says why, and how many seeds would give
  80% power at the observed difference and spread (a rough figure: both are estimated).

Within one finding, a cell's definitive verdict stands only if its p-value survives Holm's
step-down over the finding's cells (refutations and supports each a family), so the chance of any
false verdict in the finding stays at the 2.5% of one interval's side, however many cells it has
(``judge_cells``); a finding every cell of which supports it is supported without that correction
(an intersection-union test, exact at the per-cell level). With one cell the rule is the interval
rule. No evidence of a drop is never reported as no drop: that needs the interval to exclude it.

Every level above is the fixed design's; at a look of a sequential design (sequential.at_look),
``level`` gives that look's nominal level instead, and intervals, Holm's thresholds and the
Bonferroni over a cell's parts all use it: one rule, of which the fixed design is the one-look case.
"""

from __future__ import annotations

import contextvars
import functools
import math
from dataclasses import dataclass, field, replace

import numpy as np

SUPPORTED, NOT_SUPPORTED, CANNOT_TELL = "supported", "not supported", "cannot tell"
PARTLY = "partly"  # a finding over several cells, some supporting it and some refuting it
CONFIDENCE = 0.95
ONE_SIDED_ALPHA = (1 - CONFIDENCE) / 2  # one side of the 95% interval
MIN_DEFINITIVE_SEEDS = 3  # two seeds tie on an accuracy step often enough to fake a zero spread
POWER = 0.8  # the seeds quoted for an undecided comparison give this power
MAX_SEEDS = 100  # beyond this a difference is called unresolvable rather than given a seed count
NO_SPREAD = 1e-9  # a spread below this is float rounding of equal differences, not a measured spread


# The look of a group-sequential design being judged (sequential.at_look): (the seed counts of its
# looks, the index of this one). None, or a design of one look, is the fixed design: every level
# below is then the fixed rule's.
CURRENT_LOOK: contextvars.ContextVar = contextvars.ContextVar("look", default=None)


def level(alpha: float = ONE_SIDED_ALPHA) -> float:
    """The one-sided level a test spending ``alpha`` uses at the current look: ``alpha`` in the
    fixed design, the look's nominal level of an O'Brien-Fleming-type boundary in a sequential one
    (sequential.nominal_level), so that all looks together spend ``alpha``."""
    look = CURRENT_LOOK.get()
    if look is None or len(look[0]) == 1:
        return alpha
    from .sequential import nominal_level

    return nominal_level(look[0], look[1], alpha)


def t_critical(df: int, confidence: float | None = None) -> float:
    """The two-sided critical value of Student's t (df=2, 95%: 4.303); by default at the current
    look's level (``level``: 95% in the fixed design)."""
    return _t_critical(df, 1 - 2 * level() if confidence is None else confidence)


@functools.lru_cache(maxsize=None)
def _t_critical(df: int, confidence: float) -> float:
    from scipy.stats import t

    return float(t.ppf((1 + confidence) / 2, df)) if df >= 1 else math.inf


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


@dataclass(frozen=True)
class Outcome:
    verdict: str  # supported | not supported | cannot tell
    why: str
    p_claim: float = math.nan  # one-sided p-value of the claim (small: supported)
    p_refute: float = math.nan  # one-sided p-value of its opposite (small: refuted)
    reads: frozenset = field(default=frozenset(), compare=False)  # the run groups it was judged from
    # False where more seeds cannot decide it (a missing score, a sparsity mismatch, a point outside
    # the frontier): a sequential design gives such a cell no more seeds
    more_seeds_help: bool = True


def decide(diff: Difference, *, above: float | None = None, below: float | None = None) -> Outcome:
    """The claim "the true difference is above ``above``" (or "below ``below``"), judged at the
    current look's level (``level``), from the run groups the difference read."""
    return replace(_decide(diff, above=above, below=below), reads=diff.reads)


def _decide(diff: Difference, *, above: float | None, below: float | None) -> Outcome:
    if (above is None) == (below is None):
        raise ValueError("decide needs exactly one of above= or below=")
    bound = above if above is not None else below
    side = "above" if above is not None else "below"
    other = "below" if side == "above" else "above"
    if not diff.estimable:
        return Outcome(CANNOT_TELL, str(diff), reads=diff.reads, more_seeds_help=False)
    if diff.n < 2:
        return Outcome(CANNOT_TELL, f"{diff}: one seed gives no spread; run at least {MIN_DEFINITIVE_SEEDS} seeds")
    note = f" ({diff.note})" if diff.note else ""
    if not diff.std > NO_SPREAD:
        return Outcome(CANNOT_TELL, f"{diff}{note}: every seed gives the same difference, so its spread cannot be "
                                    "estimated; more seeds (or a finer metric, e.g. the eval loss) would tell")
    p_claim, p_refute = diff.p_value(bound, side), diff.p_value(bound, other)
    needed = diff.seeds_needed(bound)
    more = (f"about {needed} seeds would give 80% power at this difference and spread (both estimated from "
            f"{diff.n} seeds: a rough figure)" if needed else f"more than {MAX_SEEDS} seeds at this spread")
    if diff.n < MIN_DEFINITIVE_SEEDS:
        return Outcome(CANNOT_TELL, f"{diff}{note}: {diff.n} paired seeds; a definitive verdict needs at least "
                                    f"{MIN_DEFINITIVE_SEEDS}; {more}", p_claim, p_refute)
    if diff.low > bound if side == "above" else diff.high < bound:
        return Outcome(SUPPORTED, f"{diff}{note} is {side} {bound:+.3f}", p_claim, p_refute)
    if diff.high < bound if side == "above" else diff.low > bound:
        return Outcome(NOT_SUPPORTED, f"{diff}{note} is {other} {bound:+.3f}", p_claim, p_refute)
    return Outcome(CANNOT_TELL, f"{diff}{note} straddles {bound:+.3f}; {more}", p_claim, p_refute)


def holm_rejections(p_values: list[float], alpha: float = ONE_SIDED_ALPHA) -> list[bool]:
    """Holm's step-down: the k-th smallest p-value (from 0) is rejected while it and every smaller one
    is at most alpha / (m - k) (at a look of a sequential design, the look's nominal level of a
    boundary spending alpha / (m - k), ``level``: Holm's procedure with group-sequential tests,
    Maurer and Bretz 2013). Written out rather than statsmodels' multipletests(method="holm"),
    whose Holm branch runs gc.collect() on every call (0.04 s in a small process, seconds in a large
    one); tests/test_decision.py checks the two agree."""
    rejected = [False] * len(p_values)
    for rank, index in enumerate(sorted(range(len(p_values)), key=lambda i: p_values[i])):
        if not p_values[index] <= level(alpha / (len(p_values) - rank)):
            break
        rejected[index] = True
    return rejected


def judge_cells(cells: list[Outcome]) -> tuple[str, list[Outcome]]:
    """A finding's verdict over its cells, and each cell's outcome as the finding reports it.

    Supported when every cell supports it (each at the per-cell level: an intersection-union test
    needs no correction). Otherwise a cell's definitive verdict stands only if its p-value survives
    Holm's step-down at the one-sided 2.5% over the finding's cells (supports and refutations each
    a family); then not supported when a cell refutes it (partly if another supports it), else
    cannot tell.
    """
    verdicts = [cell.verdict for cell in cells]
    if cells and set(verdicts) == {SUPPORTED}:
        return SUPPORTED, list(cells)
    judged = list(cells)
    if len(cells) > 1:
        for verdict, attribute in ((SUPPORTED, "p_claim"), (NOT_SUPPORTED, "p_refute")):
            p_values = [getattr(cell, attribute) for cell in cells]
            tested = [i for i, p in enumerate(p_values) if not math.isnan(p)]
            if not tested:
                continue
            keeps = holm_rejections([p_values[i] for i in tested])
            for i, kept in zip(tested, keeps):
                if judged[i].verdict == verdict and not kept:
                    judged[i] = replace(judged[i], verdict=CANNOT_TELL, why=(
                        f"{judged[i].why}; {verdict} alone, but not after Holm's correction over the finding's "
                        f"{len(cells)} cells (p = {p_values[i]:.3f})"))
    found = {cell.verdict for cell in judged}
    if NOT_SUPPORTED in found:
        return (PARTLY if SUPPORTED in found else NOT_SUPPORTED), judged
    return CANNOT_TELL, judged


def combine(outcomes: list[Outcome]) -> str:
    """A finding's verdict over its cells (judge_cells)."""
    return judge_cells(outcomes)[0]


def all_of(outcomes: list[Outcome]) -> Outcome:
    """A cell whose claim has several parts: supported when all are (its p-value the largest of
    theirs), not supported when any is refuted (Bonferroni over the parts)."""
    verdicts = [o.verdict for o in outcomes]
    claims = [o.p_claim for o in outcomes]
    refutations = [o.p_refute for o in outcomes if not math.isnan(o.p_refute)]
    p_refute = min(1.0, len(outcomes) * min(refutations)) if refutations else math.nan
    why = "; ".join(o.why for o in outcomes)
    verdict = SUPPORTED if set(verdicts) == {SUPPORTED} else CANNOT_TELL
    if NOT_SUPPORTED in verdicts:
        # the refutation must hold with the parts' Bonferroni correction: any one of k parts refuted
        # at 2.5% each would refute the claim falsely up to k times as often (simulated: 8% for
        # finding 2's four comparisons, docs/EXPERIMENTS.md)
        if min(refutations) <= level(ONE_SIDED_ALPHA / len(outcomes)):
            verdict = NOT_SUPPORTED
        else:
            why += (f"; a part is refuted alone, but not after Bonferroni over the cell's {len(outcomes)} parts "
                    f"(p = {p_refute:.3f})")
    return Outcome(verdict, why, max(claims) if not any(math.isnan(p) for p in claims) else math.nan, p_refute,
                   reads=frozenset().union(*(o.reads for o in outcomes)),
                   more_seeds_help=any(o.more_seeds_help for o in outcomes))


RULE_TEXT = (
    "Decision rule (src/breaking_bert/decision.py): each comparison is a difference of scores with a "
    "two-sided 95% t interval, paired by seed over the seeds both cells ran (n is that paired count). Its spread "
    "is pooled over the finding's cells for the same comparison (sum of (n - 1) s^2 over sum of (n - 1), the "
    "pooled df shown) when Bartlett's test does not reject equal spreads (p >= 0.05), else each cell's own on n - 1 "
    "degrees of freedom. A claim is supported when the whole interval is on its side of the bound, not supported "
    "when the whole interval is on the other side, and cannot tell otherwise, with the seeds that would give 80% "
    "power at the observed difference and spread; fewer than 3 paired seeds, no spread across them, or a missing "
    "score never give a definitive verdict. Within a finding, a cell's definitive verdict must also survive Holm's "
    "correction over the finding's cells (one-sided 2.5%), so the finding's chance of any false verdict stays at "
    "that of one interval; a finding is supported when every cell supports it. A cell whose claim has parts (finding "
    "1's two, finding 2's four) is refuted only when a part is, after Bonferroni over the parts. \"Costs little\" is an equivalence "
    "test: the interval's lower end above -negligible_drop. The rule's calibration (false-definitive rate, power) "
    "is in docs/EXPERIMENTS.md."
)
