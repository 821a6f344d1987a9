"""Degrees for a target sparsity (one binary search, per example or per dataset), a split's masks
for one configured pattern, and the masks stage's check that a target was met."""

from __future__ import annotations

import functools
import heapq
from collections.abc import Sequence

import numpy as np

from .inputs import MaskInputs, MaskOptions
from ..kinds import get_kind
from ..vocabulary import with_pattern_defaults
from .patterns import build_mask, build_matched_random_mask
from .storage import MaskSet, sparsity


class UnreachableSparsity(ValueError):
    """No degree of the pattern gets within tolerance of the target on this data (or any data)."""


def check_adds_links(sparsity_at, highest: int, kind: str) -> None:
    """A kind's first degree adds links as it grows (a window's width, a count of partners; random draws
    are nested), so a binary search finds a target. A user's kind whose degree works the other way (a
    stride) is refused here, not solved wrongly."""
    if highest > 1 and sparsity_at(highest) > sparsity_at(1):
        degree = get_kind(kind).degrees[0]
        raise UnreachableSparsity(
            f"pattern kind {kind!r}: its first degree {degree!r} makes masks sparser as it grows (sparsity "
            f"{sparsity_at(1):.3f} at 1, {sparsity_at(highest):.3f} at {highest}), so no target sparsity can be "
            f"solved for on it: give the degree itself (degrees: {{{degree}: N}}) instead of target_sparsity, or "
            "register the kind with a first degree that adds links as it grows")


def closest_degree(sparsity_at, target: float, highest: int) -> int:
    """The degree in [0, highest] whose sparsity is closest to target (ties: the sparser one), by
    binary search: sparsity never increases with the degree (check_adds_links)."""
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
    if not get_kind(kind).degrees:
        raise ValueError(f"pattern {kind!r} has no degree to solve for")
    degrees, name = dict(fixed_degrees or {}), get_kind(kind).degrees[0]
    sparsity_at = functools.partial(_sparsity_at, inputs, kind, degrees, name, options=options, seed=seed)
    check_adds_links(sparsity_at, max(inputs.n, 1), kind)
    return closest_degree(sparsity_at, target, max(inputs.n, 1))  # degree n saturates every pattern


def solve_degrees_for_mean(
    examples: Sequence[MaskInputs],
    kind: str,
    target: float,
    options: MaskOptions = MaskOptions(),
    seed: int = 0,
    fixed_degrees: dict[str, int] | None = None,
    tolerance: float = 0.01,
    name: str = "?",
) -> list[int]:
    """One degree per example such that the split's mean sparsity lands on the target.

    Each example starts at its closest degree; where short examples cannot get as sparse as the
    target (or long ones as dense) that leaves the mean off by a few hundredths. The examples whose
    next degree towards the target changes their sparsity least then move, one step at a time,
    until the mean crosses the target (the nearer of the last two means is kept). A target outside
    what any choice of degrees reaches names the range that can be met.
    """
    param = get_kind(kind).degrees[0]
    fixed = dict(fixed_degrees or {})
    cached = [{} for _ in range(len(examples))]

    def sparsity_of(i: int, degree: int) -> float:
        if degree not in cached[i]:
            cached[i][degree] = _sparsity_at(examples[i], kind, fixed, param, degree, options, seed)
        return cached[i][degree]

    if not examples:
        return []
    count = len(examples)
    highest, degrees, checked = [], [], False
    for i in range(count):  # one example at a time: a split's inputs may be built as they are read
        highest.append(max(examples[i].n, 1))  # degree n saturates every pattern
        if not checked and highest[i] > 1:  # once per split: it costs two masks
            check_adds_links(lambda value, i=i: sparsity_of(i, value), highest[i], kind)
            checked = True
        degrees.append(closest_degree(lambda value, i=i: sparsity_of(i, value), target, highest[i]))
    total = _move_towards(sparsity_of, degrees, highest, target)
    if abs(total / count - target) > tolerance:
        raise UnreachableSparsity(_unreachable_per_example(sparsity_of, degrees, highest, kind, target, tolerance, name))
    return degrees


def _move_towards(sparsity_of, degrees: list[int], highest: list[int], target: float) -> float:
    """Moves the examples whose next degree towards the target changes their sparsity least, one
    step at a time, until the split's mean crosses the target (the nearer of the last two means is
    kept); ``degrees`` is updated in place. Returns the split's total sparsity."""
    count = len(degrees)
    total = sum(sparsity_of(i, degree) for i, degree in enumerate(degrees))
    sparser = total / count < target  # lower degrees are sparser
    step = -1 if sparser else 1

    def next_move(i: int):
        """(sparsity change, example, degree) of the example's nearest degree that changes its sparsity."""
        here, degree = sparsity_of(i, degrees[i]), degrees[i]
        while 0 <= degree + step <= highest[i]:
            degree += step
            change = abs(sparsity_of(i, degree) - here)
            if change > 0:
                return change, i, degree
        return None

    def short_of_target(total_now: float) -> bool:
        return total_now / count < target if sparser else total_now / count > target

    moves = [move for i in range(count) if (move := next_move(i))]
    heapq.heapify(moves)
    while moves and short_of_target(total):
        _, i, degree = heapq.heappop(moves)
        before, previous = total, degrees[i]
        total += sparsity_of(i, degree) - sparsity_of(i, previous)
        degrees[i] = degree
        if not short_of_target(total):  # crossed: keep the nearer side
            if abs(before / count - target) < abs(total / count - target):
                degrees[i], total = previous, before
            break
        if move := next_move(i):
            heapq.heappush(moves, move)
    return total


def _unreachable_per_example(sparsity_of, degrees, highest, kind, target, tolerance, name) -> str:
    """What the split reached, and the range of targets its examples can meet."""
    count = len(degrees)
    reached = [sparsity_of(i, degree) for i, degree in enumerate(degrees)]
    densest = sum(sparsity_of(i, highest[i]) for i in range(count)) / count
    sparsest = sum(sparsity_of(i, 0) for i in range(count)) / count
    return (f"patterns.{name}.target_sparsity={target}: {kind} solved per example gets this split's mean sparsity "
            f"no closer than {sum(reached) / count:.3f} (tolerance {tolerance}; its {count} examples range "
            f"{min(reached):.3f} to {max(reached):.3f}). Targets from {max(densest - tolerance, 0):.3f} to "
            f"{min(sparsest + tolerance, 1):.3f} can be met on this data; choose one of them or change masks.special_tokens")


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
    name = get_kind(kind).degrees[0]
    degrees = dict(fixed_degrees or {})
    first = next((x for x in examples if x.n > 1), None)  # one example's two masks, not the sample's
    if first is not None:
        check_adds_links(lambda value: _sparsity_at(first, kind, degrees, name, value, options, seed), first.n, kind)
    return closest_degree(lambda value: mean_sparsity_at(examples, kind, degrees, name, value, options, seed), target,
                          max_degree)


def build_split_masks(
    examples: Sequence[MaskInputs],
    pattern: dict,
    options: MaskOptions,
    dataset_degrees: dict[str, int] | None,
    reference: MaskSet | None = None,
    progress_desc: str | None = None,
    tolerance: float = 0.01,
    name: str = "?",
) -> MaskSet:
    """Masks of one split for a pattern config (see config/README.md, ``patterns``).

    ``dataset_degrees`` are the degrees used for every example (given, or solved per dataset);
    with ``None`` and a ``target_sparsity`` the degrees are solved per example so that the split's
    mean sparsity lands within ``tolerance`` of the target (solve_degrees_for_mean).
    """
    from tqdm import tqdm

    pattern = with_pattern_defaults(pattern)
    kind, seed = pattern["kind"], int(pattern["seed"])
    solved = None
    if reference is None and dataset_degrees is None and "target_sparsity" in pattern:
        solved = solve_degrees_for_mean(examples, kind, pattern["target_sparsity"], options, seed,
                                        pattern.get("degrees"), tolerance, name)
    degrees = []  # filled as the masks are built, read by from_masks after its last one

    def masks():
        for index, example in enumerate(tqdm(examples, desc=progress_desc or kind, mininterval=5,
                                             disable=progress_desc is None)):
            if reference is not None:  # a control drawn from its reference's per-row degrees
                mask = build_matched_random_mask(reference.mask(example.example_index), example, options, seed)
                degree = int(mask.sum(axis=1).mean())
            elif solved is not None:
                degree = solved[index]
                param = get_kind(kind).degrees[0]
                mask = build_mask(example, kind, {**pattern.get("degrees", {}), param: degree}, options, seed)
            else:
                mask = build_mask(example, kind, dataset_degrees or {}, options, seed)
                params = get_kind(kind).degrees
                degree = int(dataset_degrees[params[0]]) if params else -1
            degrees.append(degree)
            yield mask

    return MaskSet.from_masks(masks(), degrees, meta={"pattern": pattern, "options": options.__dict__})


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
    pattern = with_pattern_defaults(pattern)
    kind, seed = pattern["kind"], int(pattern["seed"])
    if not get_kind(kind).degrees:  # dense, or a control drawn from its reference's per-row degrees
        return {}
    if "target_sparsity" not in pattern:
        return {k: int(v) for k, v in pattern.get("degrees", {}).items()}
    if pattern["solve"] == "per_example":
        return None
    rng = np.random.default_rng(seed)
    sample_index = rng.permutation(len(train_examples))[:solve_sample]
    sample = [train_examples[i] for i in sample_index]
    fixed = {k: int(v) for k, v in pattern.get("degrees", {}).items()}
    param = get_kind(kind).degrees[0]
    max_degree = max(x.n for x in sample) if sample else 1
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
    solve = with_pattern_defaults(pattern)["solve"].replace("_", " ")
    if abs(achieved - target) > tolerance:
        raise UnreachableSparsity(
            f"patterns.{name}.target_sparsity={target}: {pattern['kind']} solved {solve} reaches a mean "
            f"sparsity of {achieved:.3f} (tolerance {tolerance}; examples range {masks.sparsities.min():.3f} to "
            f"{masks.sparsities.max():.3f}, degrees {int(masks.degrees.min())} to {int(masks.degrees.max())}); "
            f"choose a target in reach or change masks.special_tokens"
        )
