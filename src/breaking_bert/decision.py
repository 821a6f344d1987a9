"""The one decision rule every finding uses (statistics in one place).

A comparison is a difference of scores between two cells (e.g. a masked cell minus dense). Its
estimate is the mean difference with a two-sided 95% t interval on n - 1 degrees of freedom:
paired by seed when both cells share seeds (the difference of each seed's two scores), else
Welch-style from the two cells' means and spreads with the smaller cell's n - 1 degrees of freedom
(conservative). A claim about the difference ("below a bound" or "above a bound") then has three
outcomes:

- supported: the whole interval is on the claimed side of the bound;
- not supported: the whole interval is on the other side (for "costs little", an equivalence
  test: the interval's lower end above ``-negligible_drop`` supports it, its upper end below
  refutes it);
- cannot tell: the interval straddles the bound, or there is one seed (no spread): the outcome says
  how many seeds it would take at the observed spread.

No evidence of a drop is never reported as no drop: that needs the interval to exclude the drop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SUPPORTED, NOT_SUPPORTED, CANNOT_TELL = "supported", "not supported", "cannot tell"
PARTLY = "partly"  # a finding over several cells, some supporting it and some refuting it
CONFIDENCE = 0.95
MAX_SEEDS = 100  # beyond this a difference is called unresolvable rather than given a seed count


def _t_two_sided_coverage(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with integer df (closed form, Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2:  # odd
        term, total = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= cos2 * (2 * k) / (2 * k + 1)
            total += term
        return 2 / math.pi * (theta + (math.sin(theta) * math.cos(theta) * total if df > 1 else 0.0))
    term = total = 1.0
    for k in range(1, df // 2):
        term *= cos2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


def t_critical(df: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided critical value of Student's t (df=2, 95%: 4.303)."""
    if df < 1:
        return math.inf
    low, high = 0.0, 1e4
    for _ in range(200):  # bisection; coverage rises monotonically in t
        middle = (low + high) / 2
        low, high = (middle, high) if _t_two_sided_coverage(middle, df) < confidence else (low, middle)
    return (low + high) / 2


@dataclass(frozen=True)
class Difference:
    """A difference of scores (first cell minus second) with its 95% interval over n seeds."""

    mean: float
    std: float  # of the per-seed differences (paired) or the pooled standard error times sqrt(n)
    n: int
    paired: bool

    @property
    def half_width(self) -> float:
        return t_critical(self.n - 1) * self.std / math.sqrt(self.n) if self.n >= 2 else math.inf

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.mean:+.3f} (1 seed: no interval)"
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"

    def seeds_needed(self, bound: float) -> int | None:
        """Seeds at which the interval, at the observed spread and mean, would clear ``bound``;
        None when there is no spread to go by (one seed) or it would take more than MAX_SEEDS."""
        distance = abs(self.mean - bound)
        if self.n < 2 or distance == 0:
            return None
        for n in range(max(self.n, 2), MAX_SEEDS + 1):
            if t_critical(n - 1) * self.std / math.sqrt(n) < distance:
                return n
        return None


def difference(first: dict, second: dict) -> Difference:
    """first/second: seed -> score of two cells. Paired over shared seeds when there are >= 2."""
    shared = sorted(set(first) & set(second))
    if len(shared) >= 2:
        deltas = np.array([first[s] - second[s] for s in shared], dtype=float)
        return Difference(float(deltas.mean()), float(deltas.std(ddof=1)), len(shared), paired=True)
    a, b = np.array(list(first.values()), dtype=float), np.array(list(second.values()), dtype=float)
    n = int(min(len(a), len(b)))
    mean = float(a.mean() - b.mean())
    if n < 2:
        return Difference(mean, math.nan, n, paired=False)
    standard_error = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return Difference(mean, standard_error * math.sqrt(n), n, paired=False)


@dataclass(frozen=True)
class Outcome:
    verdict: str  # supported | not supported | cannot tell
    why: str


def decide(diff: Difference, *, above: float | None = None, below: float | None = None) -> Outcome:
    """The claim "the true difference is above ``above``" (or "below ``below``")."""
    if (above is None) == (below is None):
        raise ValueError("decide needs exactly one of above= or below=")
    bound = above if above is not None else below
    side = "above" if above is not None else "below"
    if diff.n < 2:
        return Outcome(CANNOT_TELL, f"{diff}: one seed gives no spread; run at least 2 (3 or more to measure it)")
    claimed = diff.low > bound if side == "above" else diff.high < bound
    refuted = diff.high < bound if side == "above" else diff.low > bound
    if claimed:
        return Outcome(SUPPORTED, f"{diff} is {side} {bound:+.3f}")
    if refuted:
        return Outcome(NOT_SUPPORTED, f"{diff} is {'below' if side == 'above' else 'above'} {bound:+.3f}")
    needed = diff.seeds_needed(bound)
    more = f"about {needed} seeds at this spread would tell" if needed else f"more than {MAX_SEEDS} seeds at this spread"
    return Outcome(CANNOT_TELL, f"{diff} straddles {bound:+.3f}; {more}")


def combine(outcomes: list[str]) -> str:
    """A finding over several cells (it claims each): supported when every cell supports it; when
    a cell refutes it, not supported, or partly if other cells support it; else cannot tell."""
    found = set(outcomes)
    if found == {SUPPORTED}:
        return SUPPORTED
    if NOT_SUPPORTED in found:
        return PARTLY if SUPPORTED in found else NOT_SUPPORTED
    return CANNOT_TELL


def all_of(outcomes: list[Outcome]) -> Outcome:
    """A cell whose claim has several parts: supported when all are, not supported when any is refuted."""
    verdicts = [o.verdict for o in outcomes]
    verdict = NOT_SUPPORTED if NOT_SUPPORTED in verdicts else SUPPORTED if set(verdicts) == {SUPPORTED} else CANNOT_TELL
    return Outcome(verdict, "; ".join(o.why for o in outcomes))


RULE_TEXT = (
    "Decision rule (src/breaking_bert/decision.py): each comparison is a difference of scores with a "
    "two-sided 95% t interval on n - 1 degrees of freedom, paired by seed where both cells share seeds. "
    "A claim is supported when the whole interval is on its side of the bound, not supported when the whole "
    "interval is on the other side, and cannot tell otherwise (with the seeds it would take at the observed "
    "spread); one seed never gives a definitive verdict. \"Costs little\" is an equivalence test: the interval's "
    "lower end above -negligible_drop."
)
