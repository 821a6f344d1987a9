"""The level of every test of the decision rule: the fixed design's one-sided 2.5%, or, at a look
of a group-sequential design (sequential.py), that look's nominal level of an O'Brien-Fleming-type
boundary (Lan and DeMets' spending function, computed on t statistics). decision.py and
differences.py ask ``level()`` and ``t_critical()``; ``at_look`` says which look is being judged.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math

import numpy as np

CONFIDENCE = 0.95
ONE_SIDED_ALPHA = (1 - CONFIDENCE) / 2  # one side of the 95% interval
SIMULATED_PATHS = 200_000  # null paths of t statistics behind each nominal level (seeded)

# The look of a group-sequential design being judged (at_look): (the seed counts of its
# looks, the index of this one). None, or a design of one look, is the fixed design: every level
# below is then the fixed rule's.
CURRENT_LOOK: contextvars.ContextVar = contextvars.ContextVar("look", default=None)


def level(alpha: float = ONE_SIDED_ALPHA) -> float:
    """The one-sided level a test spending ``alpha`` uses at the current look: ``alpha`` in the
    fixed design, the look's nominal level of an O'Brien-Fleming-type boundary in a sequential one
    (nominal_level), so that all looks together spend ``alpha``."""
    look = CURRENT_LOOK.get()
    if look is None or len(look[0]) == 1:
        return alpha
    return nominal_level(look[0], look[1], alpha)


def t_critical(df: int, confidence: float | None = None) -> float:
    """The two-sided critical value of Student's t (df=2, 95%: 4.303); by default at the current
    look's level (``level``: 95% in the fixed design)."""
    return _t_critical(df, 1 - 2 * level() if confidence is None else confidence)


@functools.lru_cache(maxsize=None)
def _t_critical(df: int, confidence: float) -> float:
    from scipy.stats import t

    return float(t.ppf((1 + confidence) / 2, df)) if df >= 1 else math.inf


def spent(t: float, alpha: float) -> float:
    """O'Brien-Fleming-type alpha spent by information fraction t (Lan and DeMets 1983)."""
    from scipy.stats import norm

    return float(2 - 2 * norm.cdf(norm.ppf(1 - alpha / 2) / t**0.5)) if t > 0 else 0.0


@functools.lru_cache(maxsize=None)
def boundaries(looks: tuple[int, ...], alpha: float) -> tuple[float, ...]:
    """The z boundary of each look for one side spending ``alpha`` (exact multivariate normal): the
    textbook boundaries, against which the spending function is checked (tests/test_sequential.py)."""
    from scipy.optimize import brentq
    from scipy.stats import multivariate_normal, norm

    fractions = np.array(looks, dtype=float) / looks[-1]
    found: list[float] = []
    for k, t in enumerate(fractions):
        target = 1 - spent(t, alpha)  # P(no crossing through look k)
        if k == 0:
            found.append(float(norm.ppf(target)))
            continue
        shown = fractions[: k + 1]
        covariance = np.sqrt(np.minimum.outer(shown, shown) / np.maximum.outer(shown, shown))
        # Genz's quasi-Monte Carlo integration, seeded: the same boundaries on every call
        joint = multivariate_normal(mean=np.zeros(k + 1), cov=covariance, allow_singular=True, seed=0,
                                    maxpts=20_000 * (k + 1), abseps=1e-6, releps=1e-6)

        def excess(c, joint=joint):
            return joint.cdf(np.array([*found, c])) - target

        found.append(float(brentq(excess, -1.0, 12.0, xtol=1e-6)))
    return tuple(found)


@functools.lru_cache(maxsize=8)
def _null_t_paths(looks: tuple[int, ...]) -> np.ndarray:
    """(SIMULATED_PATHS, looks) t statistics of paired differences with true mean 0, each look
    over the first n of the same seeds (seeded: the same levels on every machine)."""
    rng = np.random.default_rng(20261201)
    deltas = rng.standard_normal((SIMULATED_PATHS, looks[-1]))
    sums, squares = np.cumsum(deltas, axis=1), np.cumsum(deltas**2, axis=1)
    columns = []
    for n in looks:
        mean = sums[:, n - 1] / n
        variance = (squares[:, n - 1] - n * mean**2) / (n - 1)
        columns.append(mean / np.sqrt(variance / n))
    return np.stack(columns, axis=1)


@functools.lru_cache(maxsize=4096)
def _nominal_levels(looks: tuple[int, ...], alpha: float) -> tuple[float, ...]:
    from scipy.stats import t as student

    if len(looks) == 1:
        return (alpha,)
    paths = _null_t_paths(looks)
    crossed = np.zeros(len(paths), dtype=bool)
    fractions = np.array(looks, dtype=float) / looks[-1]
    levels = []
    for k, (n, fraction) in enumerate(zip(looks, fractions)):
        increment = spent(fraction, alpha) - (spent(fractions[k - 1], alpha) if k else 0.0)
        earlier = np.sort(paths[crossed, k])  # this look's statistics of the paths that crossed before
        level = increment
        for _ in range(50):  # P(T_k > c) - P(T_k > c, crossed before) = increment, solved for P(T_k > c)
            overlap = (len(earlier) - np.searchsorted(earlier, student.isf(level, n - 1), side="right")) / len(paths)
            if abs(increment + overlap - level) < 1e-12:
                break
            level = increment + overlap
        levels.append(float(level))
        crossed |= paths[:, k] > student.isf(level, n - 1)
    return tuple(levels)


def nominal_level(looks: tuple[int, ...], index: int, alpha: float) -> float:
    """The one-sided level of look ``index``'s t-test for a boundary spending ``alpha`` over
    ``looks``."""
    return _nominal_levels(tuple(looks), float(f"{alpha:.12g}"))[index]


def nominal_levels(looks: tuple[int, ...], alpha: float) -> tuple[float, ...]:
    return _nominal_levels(tuple(looks), float(f"{alpha:.12g}"))


@contextlib.contextmanager
def at_look(looks: tuple[int, ...], index: int):
    """Judge at look ``index`` of ``looks``: every level of decision.py is then that look's."""
    token = CURRENT_LOOK.set((tuple(looks), index))
    try:
        yield
    finally:
        CURRENT_LOOK.reset(token)
