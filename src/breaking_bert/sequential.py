"""Seeds until the verdict is known (issue 28): a group-sequential design for the decision rule.

A sequential design runs ``initial`` seeds per cell, judges, and adds ``step`` seeds only to the
cells still undecided, up to ``max``. Looking after every batch of seeds and stopping at the first
definitive interval would inflate the false-verdict rate; here each look spends part of the
one-sided 2.5% by Lan and DeMets' O'Brien-Fleming-type spending function

    alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t)),  t = seeds so far / max seeds,

so early looks need overwhelming evidence and the last look nearly the fixed design's. The
boundary of look k is the z with P(no crossing at looks 1..k-1, crossing at k) = alpha(t_k) -
alpha(t_{k-1}) under the null (the z statistics of nested samples are Brownian: corr sqrt(t_i /
t_j)); the t-tests of the rule then use that boundary's nominal one-sided level (the usual
nominal-significance form for t statistics). Each side of a claim (supported, not supported)
spends its own 2.5%, as the fixed rule's interval does. The fixed design is the one-look case:
its nominal level is 2.5%, the rule as it was.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .decision import ONE_SIDED_ALPHA


@dataclass(frozen=True)
class Design:
    """Seeds per cell: ``initial``, then ``step`` more while undecided, up to ``max``."""

    initial: int
    max: int
    step: int

    @classmethod
    def from_config(cls, seeds) -> "Design":
        """A plain list of seeds is the fixed design (one look at all of them)."""
        if isinstance(seeds, dict):
            return cls(int(seeds["initial"]), int(seeds["max"]), int(seeds["step"]))
        return cls(len(seeds), len(seeds), 1)

    def __post_init__(self):
        if not 2 <= self.initial <= self.max or self.step < 1:
            raise ValueError(f"seeds: initial {self.initial}, max {self.max}, step {self.step}: need 2 <= initial "
                             "<= max and step >= 1")

    @property
    def looks(self) -> tuple[int, ...]:
        """The seed counts at which cells are judged."""
        counts = list(range(self.initial, self.max, self.step))
        return tuple(counts + [self.max])

    def nominal_alpha(self, seeds: int) -> float:
        """The one-sided level a comparison over ``seeds`` paired seeds is tested at: that of the
        last look it has reached."""
        reached = [k for k, n in enumerate(self.looks) if n <= seeds]
        if not reached:
            return 0.0  # before the first look nothing is judged
        return nominal_levels(self.looks, ONE_SIDED_ALPHA)[reached[-1]]


def spent(t: float, alpha: float) -> float:
    """O'Brien-Fleming-type alpha spent by information fraction t (Lan and DeMets 1983)."""
    from scipy.stats import norm

    return float(2 - 2 * norm.cdf(norm.ppf(1 - alpha / 2) / t**0.5)) if t > 0 else 0.0


@functools.lru_cache(maxsize=None)
def boundaries(looks: tuple[int, ...], alpha: float) -> tuple[float, ...]:
    """The z boundary of each look for one side spending ``alpha`` (exact multivariate normal)."""
    import numpy as np
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


@functools.lru_cache(maxsize=None)
def nominal_levels(looks: tuple[int, ...], alpha: float) -> tuple[float, ...]:
    """The one-sided nominal level of each look's boundary."""
    from scipy.stats import norm

    return tuple(float(norm.sf(c)) for c in boundaries(looks, alpha))


def simulate(design: Design, cells: int, effect: float, spread: float, draws: int, seed: int = 0) -> dict:
    """A finding of ``cells`` comparisons, each claiming its paired difference is above 0, judged
    look by look under ``design`` on simulated seeds (per-seed differences ~ N(effect, spread)).
    At each look the open cells get a one-sided t-test at the look's nominal level, with Holm's
    correction over them (supports and refutations each a family); a decided cell stops, an
    undecided one runs to ``max`` (no futility stop: on 3 seeds the spread is too rough to judge
    that more cannot help; stopping for it cost two thirds of the power in a first version).
    Returns the share of draws with any definitive verdict, the share in which
    every cell is supported, and the mean seeds a cell used."""
    import numpy as np

    from .decision import Difference, holm_rejections

    rng = np.random.default_rng(seed)
    any_definitive = all_supported = seeds_used = 0
    for _ in range(draws):
        deltas = rng.normal(effect, spread, (cells, design.max))
        verdict = ["open"] * cells
        used = [0] * cells
        for look, n in enumerate(design.looks):
            open_cells = [i for i in range(cells) if verdict[i] == "open"]
            if not open_cells:
                break
            level = nominal_levels(design.looks, ONE_SIDED_ALPHA)[look]
            differences = {i: Difference(float(deltas[i, :n].mean()), float(deltas[i, :n].std(ddof=1)), n, True)
                           for i in open_cells}
            for outcome, side in (("supported", "above"), ("not supported", "below")):
                p = [differences[i].p_value(0.0, side) for i in open_cells]
                for i, rejected in zip(open_cells, holm_rejections(p, level)):
                    if rejected and verdict[i] == "open":
                        verdict[i] = outcome
            for i in open_cells:
                used[i] = n
                if verdict[i] == "open" and n == design.max:
                    verdict[i] = "cannot tell"
        any_definitive += any(v in ("supported", "not supported") for v in verdict)
        all_supported += all(v == "supported" for v in verdict)
        seeds_used += sum(used) / cells
    return {"definitive": any_definitive / draws, "supported": all_supported / draws, "seeds": seeds_used / draws}


def design_table(draws: int = 1000, cells: int = 4, effect: float = 1.0):
    """The sequential design against fixed designs on the same simulated findings: the share of
    draws with a false definitive verdict (null), with every cell supported (effect, in units of
    the per-seed spread), and the mean seeds a cell used."""
    import pandas as pd

    rows = []
    for name, design in (("fixed, 3 seeds", Design(3, 3, 1)), ("fixed, 10 seeds", Design(10, 10, 1)),
                         ("sequential 3 + 2 to 10", Design(3, 10, 2))):
        null = simulate(design, cells, 0.0, 1.0, draws)
        power = simulate(design, cells, effect, 1.0, draws, seed=1)
        rows.append({"design": name, "looks": ", ".join(map(str, design.looks)),
                     "false definitive (null)": null["definitive"], f"power at {effect:g} spread": power["supported"],
                     "seeds per cell (null)": null["seeds"], "seeds per cell (effect)": power["seeds"]})
    return pd.DataFrame(rows)
