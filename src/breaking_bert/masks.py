"""Attention masks: every pattern of the paper, lifted from words to wordpieces, stored bit-packed.

Conventions (see ../shared/PAPER.md and docs/MASKS.md):
- ``allowed[i, j] = True`` means token i may attend to token j; masks cover the n real tokens of one
  example (padding is never part of a mask, so sparsity excludes it by construction).
- Every mask is ``forced links | pattern links``. Forced links are the diagonal, the pieces of one
  word among themselves, and the special-token policy; they are part of every pattern so that no
  row is empty and a word is never split by its tokenizer.
- Pattern links join words only (and [CLS] under ``like_words``): a [SEP] token's links come from
  the special-token policy alone, the same for every pattern. Positional patterns used to link
  [SEP] and word-level ones could not, which confounded the comparison of kinds.
- Word-level relations (syntax, lexical) are lifted to tokens through ``word_ids`` (-1 marks a
  special token such as [CLS] / [SEP]).
- Per-example randomness is seeded by ``(seed, example_index)`` so a mask never depends on which
  other examples were built alongside it.

A new pattern kind is its terms in ``vocabulary.KINDS`` plus one builder function and one
``register_pattern`` call here (docs/DESIGN.md has a worked example).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .vocabulary import get_kind

SPECIAL_TOKEN_POLICIES = ("cls_global", "global", "like_words")
CROSS_SEGMENT_POLICIES = ("pattern", "block")


@dataclass(frozen=True)
class MaskOptions:
    """Choices that apply to every pattern; documented in docs/MASKS.md."""

    # cls_global: [CLS] attends to and is attended by every token (the classifier reads [CLS], so
    #   cutting it off would measure the pooling bottleneck rather than the pattern);
    # global: every special token ([CLS] and each [SEP]) is global;
    # like_words: [CLS] is an ordinary one-token position (only the pattern links it), so that
    #   BigBird's g alone makes it global.
    # Under every policy [SEP] is linked by the policy only (itself, and [CLS] when [CLS] is global;
    # every token under global), never by a pattern.
    special_tokens: str = "cls_global"
    # pattern: links across the two segments of a sentence pair are whatever the pattern gives;
    # block: links across segments are removed (special tokens keep their policy).
    cross_segment: str = "pattern"

    def __post_init__(self):
        if self.special_tokens not in SPECIAL_TOKEN_POLICIES:
            raise ValueError(
                f"masks.special_tokens={self.special_tokens!r}; allowed: {', '.join(SPECIAL_TOKEN_POLICIES)}"
            )
        if self.cross_segment not in CROSS_SEGMENT_POLICIES:
            raise ValueError(
                f"masks.cross_segment={self.cross_segment!r}; allowed: {', '.join(CROSS_SEGMENT_POLICIES)}"
            )


@dataclass
class MaskInputs:
    """What a pattern may look at for one example of n tokens and m words."""

    word_ids: np.ndarray  # (n,) int, -1 for special tokens; words numbered across both segments
    segment_ids: np.ndarray | None = None  # (n,) int, 0/1 for sentence pairs
    example_index: int = 0  # seeds per-example randomness
    word_hops: np.ndarray | None = None  # (m, m) hops in the undirected dependency forest (syntax)
    word_vectors: np.ndarray | None = None  # (m, d) mean input embedding of each word (lexical)

    @property
    def n(self) -> int:
        return len(self.word_ids)


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


def sparsity(mask: np.ndarray) -> float:
    """1 - allowed pairs / n^2 for one example's (n, n) mask."""
    n = mask.shape[0]
    return 1.0 - float(mask.sum()) / float(n * n) if n else 0.0


# ---------------------------------------------------------------------------------------------
# Degree solving for a target sparsity


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
    """The degree whose sparsity on this example is closest to target (ties: the sparser one).

    Sparsity never increases with the degree for any registered pattern (random draws are nested),
    so a binary search finds the crossing.
    """
    spec = get_pattern(kind)
    if not spec.degree_params:
        raise ValueError(f"pattern {kind!r} has no degree to solve for")
    name = spec.degree_params[0]
    degrees = dict(fixed_degrees or {})
    lo, hi = 0, max(inputs.n, 1)  # sparsity(lo) is highest; degree n saturates every pattern
    while lo < hi:  # smallest degree whose sparsity <= target
        mid = (lo + hi) // 2
        if _sparsity_at(inputs, kind, degrees, name, mid, options, seed) <= target:
            hi = mid
        else:
            lo = mid + 1
    best = lo
    if lo > 0:
        above = _sparsity_at(inputs, kind, degrees, name, lo - 1, options, seed)
        below = _sparsity_at(inputs, kind, degrees, name, lo, options, seed)
        if abs(above - target) <= abs(below - target):
            best = lo - 1
    return best


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

    def mean_sparsity(value: int) -> float:
        return mean_sparsity_at(examples, kind, degrees, name, value, options, seed)

    lo, hi = 0, max_degree
    while lo < hi:
        mid = (lo + hi) // 2
        if mean_sparsity(mid) <= target:
            hi = mid
        else:
            lo = mid + 1
    if lo > 0 and abs(mean_sparsity(lo - 1) - target) <= abs(mean_sparsity(lo) - target):
        return lo - 1
    return lo


# ---------------------------------------------------------------------------------------------
# Compact storage


@dataclass
class MaskSet:
    """Bit-packed masks of a dataset split: example e is ``bits[offsets[e]:offsets[e+1]]``.

    Each (n, n) mask costs ceil(n^2 / 8) bytes instead of 4 n^2 for a float tensor.
    """

    lengths: np.ndarray  # (E,) int32, n per example
    offsets: np.ndarray  # (E + 1,) int64 byte offsets into bits
    bits: np.ndarray  # (total,) uint8
    degrees: np.ndarray  # (E,) int32, the solved or given degree per example
    sparsities: np.ndarray  # (E,) float64, achieved sparsity per example
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_masks(cls, masks: Sequence[np.ndarray], degrees: Sequence[int] | None = None, meta=None):
        packed = [np.packbits(np.asarray(m, dtype=bool).ravel()) for m in masks]
        offsets = np.zeros(len(packed) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(p) for p in packed])
        return cls(
            lengths=np.array([m.shape[0] for m in masks], dtype=np.int32),
            offsets=offsets,
            bits=np.concatenate(packed) if packed else np.zeros(0, np.uint8),
            degrees=np.asarray(degrees if degrees is not None else [-1] * len(masks), dtype=np.int32),
            sparsities=np.array([sparsity(m) for m in masks], dtype=np.float64),
            meta=dict(meta or {}),
        )

    def __len__(self) -> int:
        return len(self.lengths)

    def mask(self, index: int) -> np.ndarray:
        n = int(self.lengths[index])
        chunk = self.bits[self.offsets[index] : self.offsets[index + 1]]
        return np.unpackbits(chunk, count=n * n).astype(bool).reshape(n, n)

    def padded_batch(self, indices: Sequence[int], length: int) -> np.ndarray:
        """(B, length, length) bool; rows and columns past each example's n are False."""
        batch = np.zeros((len(indices), length, length), dtype=bool)
        for row, index in enumerate(indices):
            n = int(self.lengths[index])
            batch[row, :n, :n] = self.mask(index)
        return batch

    @property
    def bytes_per_example(self) -> float:
        return float(self.bits.nbytes + self.offsets.nbytes + self.lengths.nbytes) / max(len(self), 1)

    def summary(self) -> dict:
        s = self.sparsities
        return {
            "examples": len(self),
            "sparsity_mean": float(s.mean()) if len(s) else float("nan"),
            "sparsity_std": float(s.std(ddof=1)) if len(s) > 1 else 0.0,
            "sparsity_min": float(s.min()) if len(s) else float("nan"),
            "sparsity_max": float(s.max()) if len(s) else float("nan"),
            "degree_mean": float(self.degrees.mean()) if len(s) else float("nan"),
            "bytes_per_example": self.bytes_per_example,
            "dense_float32_bytes_per_example": float(4 * (self.lengths.astype(np.int64) ** 2).mean())
            if len(s)
            else 0.0,
        }

    def save(self, path: str | Path) -> None:
        np.savez_compressed(
            path,
            lengths=self.lengths,
            offsets=self.offsets,
            bits=self.bits,
            degrees=self.degrees,
            sparsities=self.sparsities,
            meta=np.frombuffer(json.dumps(self.meta).encode(), dtype=np.uint8),
        )

    @classmethod
    def load(cls, path: str | Path) -> "MaskSet":
        with np.load(path, allow_pickle=False) as data:
            return cls(
                lengths=data["lengths"],
                offsets=data["offsets"],
                bits=data["bits"],
                degrees=data["degrees"],
                sparsities=data["sparsities"],
                meta=json.loads(data["meta"].tobytes().decode() or "{}"),
            )


# ---------------------------------------------------------------------------------------------
# The masks stage: every example of a task's splits, for one configured pattern

UNREACHABLE_HOPS = 1 << 20  # words in different sentences or segments are never within k hops


def word_hops_from_parse(tokens_row, parse_row) -> np.ndarray:
    """(m, m) hops between the model's words, through the spaCy token each word starts in."""
    from .parse import tree_hops

    word_starts = np.asarray(tokens_row["word_starts"])
    word_segments = np.asarray(tokens_row["word_segments"])
    m = len(word_starts)
    hops = np.full((m, m), UNREACHABLE_HOPS, dtype=np.int64)
    for segment, prefix in ((0, "a"), (1, "b")):
        words = np.flatnonzero(word_segments == segment)
        if len(words) == 0:
            continue
        starts = np.asarray(parse_row[f"{prefix}_starts"])
        spacy_token = np.clip(np.searchsorted(starts, word_starts[words], side="right") - 1, 0, None)
        segment_hops = tree_hops(parse_row[f"{prefix}_heads"]).astype(np.int64)
        segment_hops[segment_hops < 0] = UNREACHABLE_HOPS
        hops[np.ix_(words, words)] = segment_hops[np.ix_(spacy_token, spacy_token)]
    return hops


def word_vectors_from_embeddings(tokens_row, embeddings: np.ndarray) -> np.ndarray:
    """(m, d) mean input embedding of each word's pieces."""
    word_ids = np.asarray(tokens_row["word_ids"])
    input_ids = np.asarray(tokens_row["input_ids"])
    m = len(tokens_row["word_starts"])
    real = word_ids >= 0
    sums = np.zeros((m, embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, word_ids[real], embeddings[input_ids[real]])
    counts = np.bincount(word_ids[real], minlength=m)[:, None]
    return sums / np.maximum(counts, 1)


def mask_inputs_for_split(tokens, parses=None, embeddings=None, needs=frozenset()) -> list[MaskInputs]:
    """MaskInputs for every example of a split (tokens and parses are row-aligned frames)."""
    inputs = []
    for index, row in enumerate(tokens.to_dict("records")):
        inputs.append(
            MaskInputs(
                word_ids=np.asarray(row["word_ids"]),
                segment_ids=np.asarray(row["segment_ids"]),
                example_index=index,
                word_hops=word_hops_from_parse(row, parses.iloc[index]) if "parse" in needs else None,
                word_vectors=word_vectors_from_embeddings(row, embeddings) if "embeddings" in needs else None,
            )
        )
    return inputs


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
        if kind == "matched_random":
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
    if kind in ("matched_random", "dense"):
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
