"""Masks from pattern links: every mask is forced links | pattern links (the conventions are in the
package's docstring and docs/MASKS.md). The kinds and their link builders are defined once, in
``kinds`` (KINDS, get_kind); here a kind's links are restricted to the tokens a pattern may link
and joined with the forced links."""

from __future__ import annotations

import numpy as np

from ..kinds import get_kind, per_row_partner_order
from .inputs import MaskInputs, MaskOptions
from .policy import special_token_links

# ---------------------------------------------------------------------------------------------
# Forced links shared by every pattern


def forced_links(inputs: MaskInputs, options: MaskOptions) -> np.ndarray:
    """Diagonal, pieces of one word, and the special-token policy."""
    word_ids = np.asarray(inputs.word_ids)
    n = len(word_ids)
    allowed = np.eye(n, dtype=bool)
    is_word = word_ids >= 0
    allowed |= (word_ids[:, None] == word_ids[None, :]) & is_word[:, None] & is_word[None, :]
    if n:
        allowed |= special_token_links(~is_word, options.special_tokens)[0]
    return allowed


def pattern_tokens(inputs: MaskInputs, options: MaskOptions) -> np.ndarray:
    """(n,) bool: the tokens a pattern may link; words, and the leading [CLS] under like_words."""
    word_ids = np.asarray(inputs.word_ids)
    if not len(word_ids):
        return word_ids >= 0
    return special_token_links(word_ids < 0, options.special_tokens)[1]


def _block_cross_segment(allowed: np.ndarray, inputs: MaskInputs) -> np.ndarray:
    if inputs.segment_ids is None:
        return allowed
    seg = np.asarray(inputs.segment_ids)
    is_word = np.asarray(inputs.word_ids) >= 0
    cross = (seg[:, None] != seg[None, :]) & is_word[:, None] & is_word[None, :]
    return allowed & ~cross


def _separators_follow_a_global_cls(links: np.ndarray, inputs: MaskInputs, options: MaskOptions) -> np.ndarray:
    """Under like_words, [SEP] is linked to [CLS] when the pattern makes [CLS] global, as under
    cls_global (docs/MASKS.md): [CLS] reads [SEP] when it reads every token a pattern may link, and
    [SEP] reads [CLS] when every such token does. Otherwise BigBird's g would leave [SEP] isolated,
    reading and read by itself alone."""
    word_ids = np.asarray(inputs.word_ids)
    if options.special_tokens != "like_words" or not len(word_ids) or word_ids[0] >= 0:
        return links
    tokens = pattern_tokens(inputs, options)
    separators = word_ids < 0
    separators[0] = False
    links = links.copy()
    if links[0, tokens].all():
        links[0, separators] = True
    if links[tokens, 0].all():
        links[separators, 0] = True
    return links


def build_mask(
    inputs: MaskInputs,
    kind: str,
    degrees: dict[str, int],
    options: MaskOptions = MaskOptions(),
    seed: int = 0,
) -> np.ndarray:
    """The (n, n) boolean mask of one example: forced links | the pattern's links.

    Pattern links outside ``pattern_tokens`` are dropped; ``dense`` is the unmasked baseline and
    keeps every link.
    """
    spec = get_kind(kind)
    if spec.links is None:
        raise ValueError(f"pattern kind {kind!r} has no links of its own: it is drawn from a reference mask "
                         "(build_matched_random_mask)")
    kwargs = {name: int(degrees[name]) for name in spec.degrees}
    if spec.seeded:
        kwargs["seed"] = seed
    links = spec.links(inputs, **kwargs)
    if not spec.baseline:
        tokens = pattern_tokens(inputs, options)
        links = _separators_follow_a_global_cls(links & tokens[:, None] & tokens[None, :], inputs, options)
    if options.cross_segment == "block":
        links = _block_cross_segment(links, inputs)
    return links | forced_links(inputs, options)


def build_matched_random_mask(
    reference: np.ndarray, inputs: MaskInputs, options: MaskOptions = MaskOptions(), seed: int = 0
) -> np.ndarray:
    """A random control with exactly the reference mask's per-row degrees.

    The forced links and the reference's links of tokens no pattern may link ([SEP]: the policy's)
    are kept; each row's remaining budget is filled with tokens drawn uniformly from those a
    pattern may link, so the control differs from the reference only in which links exist.
    """
    tokens = pattern_tokens(inputs, options)
    policy = ~tokens[:, None] | ~tokens[None, :]
    allowed = forced_links(inputs, options) | (np.asarray(reference, dtype=bool) & policy)
    budget = reference.sum(axis=1) - allowed.sum(axis=1)
    if np.any(budget < 0):
        raise ValueError("reference mask lacks forced links; build it with the same MaskOptions")
    order = per_row_partner_order(inputs.n, seed, inputs.example_index)
    for row in np.flatnonzero(budget):
        candidates = order[row][~allowed[row, order[row]] & tokens[order[row]]]
        allowed[row, candidates[: budget[row]]] = True
    return allowed


def draw_seed(pattern_seed: int, run_seed: int) -> int:
    """The seed of one run's mask draw: the pattern's seed and the run's together, so that the
    spread over run seeds includes the draw of a random pattern's links."""
    return int(np.random.SeedSequence([int(pattern_seed), int(run_seed)]).generate_state(1)[0])
