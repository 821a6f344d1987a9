"""Degrees for a target sparsity (one binary search, per example or per dataset), a split's masks
for one configured pattern, and the masks stage's check that a target was met."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .inputs import MaskInputs, MaskOptions
from ..vocabulary import get_kind
from .patterns import build_mask, build_matched_random_mask, get_pattern
from .storage import MaskSet, sparsity


def closest_degree(sparsity_at, target: float, highest: int) -> int:
    """The degree in [0, highest] whose sparsity is closest to target (ties: the sparser one).

    Sparsity never increases with the degree for any registered pattern (random draws are nested),
    so a binary search finds the crossing.
    """
    lo, hi = 0, highest
    while lo < hi:  # smallest degree whose sparsity <= target
        mid = (lo + hi) // 2
        if sparsity_at(mid) <= target:
            hi = mid
        else:
            lo = mid + 1
    if lo > 0 and abs(sparsity_at(lo - 1) - target) <= abs(sparsity_at(lo) - target):
        return lo - 1
    return lo


def _sparsity_at(inputs, kind, degrees, name, value, options, seed) -> float:
    return sparsity(build_mask(inputs, kind, {**degrees, name: value}, options, seed))


def mean_sparsity_at(examples, kind, degrees, name, value, options, seed) -> float:
    """Mean sparsity over examples with degree ``name`` set to ``value``."""
    return float(np.mean([_sparsity_at(x, kind, degrees, name, value, options, seed) for x in examples]))


def solve_degree_for_example(
    inputs: MaskInputs,
    kind: str,
    target: float,
    options: MaskOptions = MaskOptions(),
    seed: int = 0,
    fixed_degrees: dict[str, int] | None = None,
) -> int:
    """The degree whose sparsity on this example is closest to target (ties: the sparser one)."""
    spec = get_pattern(kind)
    if not spec.degree_params:
        raise ValueError(f"pattern {kind!r} has no degree to solve for")
    name = spec.degree_params[0]
    degrees = dict(fixed_degrees or {})
    # degree n saturates every pattern
    return closest_degree(lambda value: _sparsity_at(inputs, kind, degrees, name, value, options, seed), target, max(inputs.n, 1))


def solve_degree_for_dataset(
    examples: Sequence[MaskInputs],
    kind: str,
    target: float,
    options: MaskOptions = MaskOptions(),
    seed: int = 0,
    fixed_degrees: dict[str, int] | None = None,
    max_degree: int = 512,
) -> int:
    """One degree for all examples: the one whose mean sparsity is closest to target."""
    name = get_pattern(kind).degree_params[0]
    degrees = dict(fixed_degrees or {})
    return closest_degree(lambda value: mean_sparsity_at(examples, kind, degrees, name, value, options, seed), target, max_degree)


def build_split_masks(
    examples: Sequence[MaskInputs],
    pattern: dict,
    options: MaskOptions,
    dataset_degrees: dict[str, int] | None,
    reference: MaskSet | None = None,
    progress_desc: str | None = None,
) -> MaskSet:
    """Masks of one split for a pattern config (see config/README.md, ``patterns``).

    ``dataset_degrees`` are the degrees used for every example (given, or solved per dataset);
    with ``None`` and a ``target_sparsity`` the degree is solved per example.
    """
    from tqdm import tqdm

    kind = pattern["kind"]
    seed = int(pattern.get("seed", 0))
    masks, degrees = [], []
    for example in tqdm(examples, desc=progress_desc or kind, mininterval=5, disable=progress_desc is None):
        if reference is not None:  # a control drawn from its reference's per-row degrees
            mask = build_matched_random_mask(reference.mask(example.example_index), example, options, seed)
            degree = int(mask.sum(axis=1).mean())
        elif dataset_degrees is None and "target_sparsity" in pattern:
            degree = solve_degree_for_example(
                example, kind, pattern["target_sparsity"], options, seed, pattern.get("degrees")
            )
            name = get_pattern(kind).degree_params[0]
            mask = build_mask(example, kind, {**pattern.get("degrees", {}), name: degree}, options, seed)
        else:
            mask = build_mask(example, kind, dataset_degrees or {}, options, seed)
            params = get_pattern(kind).degree_params
            degree = int(dataset_degrees[params[0]]) if params else -1
        masks.append(mask)
        degrees.append(degree)
    return MaskSet.from_masks(masks, degrees, meta={"pattern": pattern, "options": options.__dict__})


class UnreachableSparsity(ValueError):
    """No degree of the pattern gets within tolerance of the target on this data."""


def resolve_dataset_degrees(
    train_examples: Sequence[MaskInputs],
    pattern: dict,
    options: MaskOptions,
    solve_sample: int = 300,
    tolerance: float = 0.01,
    name: str = "?",
) -> dict[str, int] | None:
    """The degrees every example uses, or None when they are solved per example.

    A per-dataset target is solved on a seeded sample of the training split and then applied to
    both splits, so train and eval share one degree.
    """
    kind = pattern["kind"]
    if not get_kind(kind).degrees:  # dense, or a control drawn from its reference's per-row degrees
        return {}
    if "target_sparsity" not in pattern:
        return {k: int(v) for k, v in pattern.get("degrees", {}).items()}
    if pattern.get("solve", "per_example") == "per_example":
        return None
    rng = np.random.default_rng(int(pattern.get("seed", 0)))
    sample_index = rng.permutation(len(train_examples))[:solve_sample]
    sample = [train_examples[i] for i in sample_index]
    fixed = {k: int(v) for k, v in pattern.get("degrees", {}).items()}
    param = get_pattern(kind).degree_params[0]
    max_degree = max(x.n for x in sample) if sample else 1
    seed = int(pattern.get("seed", 0))
    target = pattern["target_sparsity"]
    degree = solve_degree_for_dataset(sample, kind, target, options, seed, fixed, max_degree)

    def mean_sparsity(value):
        return mean_sparsity_at(sample, kind, fixed, param, value, options, seed)

    achieved = mean_sparsity(degree)
    if abs(achieved - target) > tolerance:
        raise UnreachableSparsity(
            f"patterns.{name}.target_sparsity={target}: {kind} solved per dataset stops at {param}={degree}, "
            f"mean sparsity {achieved:.3f} (tolerance {tolerance}); one degree for every example reaches "
            f"{mean_sparsity(degree + 1):.3f} at {param}={degree + 1} and {mean_sparsity(max(degree - 1, 0)):.3f} at "
            f"{param}={max(degree - 1, 0)}, and {mean_sparsity(max_degree):.3f} to {mean_sparsity(0):.3f} in all. "
            f"Choose a target in reach, or solve: per_example"
        )
    return {**fixed, param: degree}


def check_achieved_sparsity(masks: "MaskSet", pattern: dict, tolerance: float, name: str = "?") -> None:
    """A target is met when the split's mean achieved sparsity lands within tolerance of it.

    A per-dataset degree is checked on its solving sample first; this checks the whole split, and
    per-example solving on data where the pattern cannot get sparse or dense enough (e.g. syntax on
    long multi-sentence texts, whose sentences are never linked: every example then stops at its
    largest useful degree, and the mean is the closest the pattern gets). The message names the
    degrees the examples stopped at.
    """
    if "target_sparsity" not in pattern:
        return
    target = pattern["target_sparsity"]
    achieved = float(masks.sparsities.mean())
    solve = pattern.get("solve", "per_example").replace("_", " ")
    if abs(achieved - target) > tolerance:
        raise UnreachableSparsity(
            f"patterns.{name}.target_sparsity={target}: {pattern['kind']} solved {solve} reaches a mean "
            f"sparsity of {achieved:.3f} (tolerance {tolerance}; examples range {masks.sparsities.min():.3f} to "
            f"{masks.sparsities.max():.3f}, degrees {int(masks.degrees.min())} to {int(masks.degrees.max())}); "
            f"choose a target in reach or change masks.special_tokens"
        )
