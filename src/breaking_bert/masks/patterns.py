"""Pattern links and the registry of their builders: every mask is forced links | pattern links
(the conventions are in the package's docstring and docs/MASKS.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..vocabulary import get_kind
from .inputs import MaskInputs, MaskOptions

# ---------------------------------------------------------------------------------------------
# Forced links shared by every pattern


def lift_word_relation(word_relation: np.ndarray, word_ids: np.ndarray) -> np.ndarray:
    """Token i, j are linked when their words are; special tokens (word id -1) get no links."""
    word_ids = np.asarray(word_ids)
    is_word = word_ids >= 0
    allowed = np.zeros((len(word_ids), len(word_ids)), dtype=bool)
    idx = np.flatnonzero(is_word)
    allowed[np.ix_(idx, idx)] = word_relation[np.ix_(word_ids[idx], word_ids[idx])]
    return allowed


def forced_links(inputs: MaskInputs, options: MaskOptions) -> np.ndarray:
    """Diagonal, pieces of one word, and the special-token policy."""
    word_ids = np.asarray(inputs.word_ids)
    n = len(word_ids)
    allowed = np.eye(n, dtype=bool)
    is_word = word_ids >= 0
    allowed |= (word_ids[:, None] == word_ids[None, :]) & is_word[:, None] & is_word[None, :]
    if options.special_tokens == "cls_global" and n and word_ids[0] < 0:
        allowed[0, :] = allowed[:, 0] = True
    elif options.special_tokens == "global":
        special = ~is_word
        allowed[special, :] = True
        allowed[:, special] = True
    return allowed


def pattern_tokens(inputs: MaskInputs, options: MaskOptions) -> np.ndarray:
    """(n,) bool: the tokens a pattern may link; words, and the leading [CLS] under like_words."""
    word_ids = np.asarray(inputs.word_ids)
    tokens = word_ids >= 0
    if options.special_tokens == "like_words" and len(word_ids) and word_ids[0] < 0:
        tokens[0] = True
    return tokens


def _block_cross_segment(allowed: np.ndarray, inputs: MaskInputs) -> np.ndarray:
    if inputs.segment_ids is None:
        return allowed
    seg = np.asarray(inputs.segment_ids)
    is_word = np.asarray(inputs.word_ids) >= 0
    cross = (seg[:, None] != seg[None, :]) & is_word[:, None] & is_word[None, :]
    return allowed & ~cross


# ---------------------------------------------------------------------------------------------
# Pattern links (without the forced ones)


def neighbour_links(inputs: MaskInputs, w: int) -> np.ndarray:
    """|i - j| <= w on token positions."""
    pos = np.arange(inputs.n)
    return np.abs(pos[:, None] - pos[None, :]) <= w


def dilated_links(inputs: MaskInputs, w: int, d: int) -> np.ndarray:
    """|i - j| = k d for k = 0..w: w neighbours on each side, d positions apart (d = 1: the
    neighbour window; d = 0 counts as 1)."""
    pos = np.arange(inputs.n)
    gap, step = np.abs(pos[:, None] - pos[None, :]), max(d, 1)
    return (gap <= w * step) & (gap % step == 0)


def global_links(inputs: MaskInputs, g: int) -> np.ndarray:
    """The g leading tokens attend to, and are attended by, every token."""
    allowed = np.zeros((inputs.n, inputs.n), dtype=bool)
    allowed[:g, :] = True
    allowed[:, :g] = True
    return allowed


def _per_row_partner_order(n: int, seed: int, example_index: int) -> np.ndarray:
    """(n, n-1) array: row i lists every other token in a random order seeded per example.

    Taking the first k entries of a row draws k partners uniformly without replacement, and the
    draws are nested in k, so a larger degree never removes a link (degree solving relies on it).
    """
    rng = np.random.default_rng([seed, example_index])
    keys = rng.random((n, n))
    np.fill_diagonal(keys, np.inf)  # the diagonal sorts last and is dropped
    return np.argsort(keys, axis=1, kind="stable")[:, : n - 1]


def random_links(inputs: MaskInputs, k: int, seed: int = 0) -> np.ndarray:
    """k uniformly drawn partners per token (not symmetrized), seeded per example."""
    n = inputs.n
    allowed = np.zeros((n, n), dtype=bool)
    k = min(k, n - 1)
    if k > 0:
        order = _per_row_partner_order(n, seed, inputs.example_index)[:, :k]
        np.put_along_axis(allowed, order, True, axis=1)
    return allowed


def syntax_links(inputs: MaskInputs, k: int) -> np.ndarray:
    """Words within k hops in the undirected dependency tree, lifted to tokens."""
    if inputs.word_hops is None:
        raise ValueError("syntax pattern needs dependency parses (word_hops)")
    return lift_word_relation(inputs.word_hops <= k, inputs.word_ids)


def lexical_links(inputs: MaskInputs, k: int) -> np.ndarray:
    """Each word linked to its k most similar words in the input (cosine of input embeddings), symmetrized."""
    if inputs.word_vectors is None:
        raise ValueError("lexical pattern needs word vectors (model input embeddings)")
    vectors = np.asarray(inputs.word_vectors, dtype=np.float64)
    m = len(vectors)
    relation = np.eye(m, dtype=bool)
    k = min(k, m - 1)
    if k > 0:
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        similarity = unit @ unit.T
        np.fill_diagonal(similarity, -np.inf)
        # stable sort on (-similarity) breaks ties by word position, so masks are reproducible
        top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
        np.put_along_axis(relation, top, True, axis=1)
        relation |= relation.T
    return lift_word_relation(relation, inputs.word_ids)


def bigbird_links(inputs: MaskInputs, g: int, w: int, r: int, seed: int = 0) -> np.ndarray:
    """BigBird (Zaheer et al. 2020): the union of global(g), neighbour(w) and random(r)."""
    return global_links(inputs, g) | neighbour_links(inputs, w) | random_links(inputs, r, seed)


def dense_links(inputs: MaskInputs) -> np.ndarray:
    return np.ones((inputs.n, inputs.n), dtype=bool)


# ---------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class PatternSpec:
    """A kind's builder with its terms from the vocabulary (degrees, needs, seeded, symmetric)."""

    kind: str
    build_links: Callable[..., np.ndarray]
    degree_params: tuple[str, ...]  # integer parameters; the first one is solved for a target sparsity
    symmetric: bool
    needs: frozenset[str] = frozenset()  # "parse", "embeddings"
    seeded: bool = False


PATTERNS: dict[str, PatternSpec] = {}


def register_pattern(kind: str, build_links: Callable[..., np.ndarray]) -> PatternSpec:
    """The builder of a kind the vocabulary defines (breaking_bert.vocabulary.KINDS)."""
    terms = get_kind(kind)
    spec = PatternSpec(kind, build_links, terms.degrees, terms.symmetric, terms.needs, terms.seeded)
    PATTERNS[kind] = spec
    return spec


register_pattern("dense", dense_links)
register_pattern("neighbour", neighbour_links)
register_pattern("global", global_links)
register_pattern("random", random_links)
register_pattern("syntax", syntax_links)
register_pattern("lexical", lexical_links)
register_pattern("bigbird", bigbird_links)
register_pattern("dilated", dilated_links)
# matched_random has no builder of its own: build_matched_random_mask draws it from a reference


def get_pattern(kind: str) -> PatternSpec:
    try:
        return PATTERNS[kind]
    except KeyError:
        raise ValueError(f"unknown pattern kind {kind!r}; registered: {', '.join(sorted(PATTERNS))}") from None


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
    spec = get_pattern(kind)
    kwargs = {name: int(degrees[name]) for name in spec.degree_params}
    if spec.seeded:
        kwargs["seed"] = seed
    links = spec.build_links(inputs, **kwargs)
    if kind != "dense":
        tokens = pattern_tokens(inputs, options)
        links = links & tokens[:, None] & tokens[None, :]
    if options.cross_segment == "block":
        links = _block_cross_segment(links, inputs)
    return links | forced_links(inputs, options)


def build_matched_random_mask(
    reference: np.ndarray, inputs: MaskInputs, options: MaskOptions = MaskOptions(), seed: int = 0
) -> np.ndarray:
    """A random control with exactly the reference mask's per-row degrees.

    The forced links are kept; each row's remaining budget is filled with tokens drawn uniformly
    from those a pattern may link, so the control differs from the reference only in which links
    exist.
    """
    allowed = forced_links(inputs, options)
    tokens = pattern_tokens(inputs, options)
    budget = reference.sum(axis=1) - allowed.sum(axis=1)
    if np.any(budget < 0):
        raise ValueError("reference mask lacks forced links; build it with the same MaskOptions")
    order = _per_row_partner_order(inputs.n, seed, inputs.example_index)
    for row in np.flatnonzero(budget):
        candidates = order[row][~allowed[row, order[row]] & tokens[order[row]]]
        allowed[row, candidates[: budget[row]]] = True
    return allowed


def draw_seed(pattern_seed: int, run_seed: int) -> int:
    """The seed of one run's mask draw: the pattern's seed and the run's together, so that the
    spread over run seeds includes the draw of a random pattern's links."""
    return int(np.random.SeedSequence([int(pattern_seed), int(run_seed)]).generate_state(1)[0])
