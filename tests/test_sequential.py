"""The group-sequential design's boundaries and its error rates (issue 28's statistics)."""

import pytest

from breaking_bert.sequential import Design, boundaries, nominal_levels, simulate, spent


def test_obrien_fleming_boundaries_are_the_published_ones():
    """Five equally spaced looks, 2.5% one-sided (Lan-DeMets O'Brien-Fleming-type spending): the
    z boundaries tabulated in Jennison and Turnbull (2000): 4.877, 3.357, 2.680, 2.290, 2.031."""
    assert boundaries((1, 2, 3, 4, 5), 0.025) == pytest.approx((4.877, 3.357, 2.680, 2.290, 2.031), abs=0.002)
    assert spent(1.0, 0.025) == pytest.approx(0.025)


def test_the_fixed_design_is_the_one_look_rule():
    fixed = Design.from_config([0, 1, 2])
    assert fixed.looks == (3,) and fixed.nominal_alpha(3) == pytest.approx(0.025)
    design = Design.from_config({"initial": 3, "max": 10, "step": 2})
    assert design.looks == (3, 5, 7, 9, 10)
    levels = nominal_levels(design.looks, 0.025)
    assert all(a < b for a, b in zip(levels, levels[1:])) and levels[-1] < 0.025, "early looks spend little"
    assert design.nominal_alpha(2) == 0.0 and design.nominal_alpha(6) == levels[1]
    with pytest.raises(ValueError, match="need 2 <= initial <= max"):
        Design(1, 10, 2)


def test_stopping_early_keeps_the_false_definitive_rate_and_spends_fewer_seeds():
    """Four null cells (true difference 0, the claim's bound): a definitive verdict in at most ~5%
    of draws, as the fixed design at max; four cells 1.5 spreads above it: power within a few
    points of the fixed design at max, on fewer seeds."""
    design, fixed = Design(3, 10, 2), Design(10, 10, 1)
    null = simulate(design, 4, 0.0, 1.0, draws=400)
    assert null["definitive"] <= 0.07, null
    effect_sequential = simulate(design, 4, 1.5, 1.0, draws=300, seed=1)
    effect_fixed = simulate(fixed, 4, 1.5, 1.0, draws=300, seed=1)
    assert effect_sequential["supported"] >= effect_fixed["supported"] - 0.08, (effect_sequential, effect_fixed)
    assert effect_sequential["seeds"] < 0.8 * effect_fixed["seeds"]
