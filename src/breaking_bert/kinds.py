"""Pattern kinds, each defined once: its terms (degrees, what it needs, whether it is a seeded draw,
whether its links are symmetric) and the builder of its links, together. A new kind is one
``@pattern_kind`` builder here (docs/DESIGN.md has a worked example); the schema leaves kinds open
and the workflow (common.smk), the masks stage (``masks.patterns`` adds the forced links and the
special-token policy), solving and the cost stage read them from KINDS.

Standard library at import: the workflow's scheduling process reads KINDS (through
``vocabulary``) without numpy, which the builders import where they run, in the masks stage's
environment. The rules whose results depend on the registry declare this file (code_inputs.py):
the masks stage, kernel timing, and the tables, figures and findings, whose degree columns come
from it; finetune jobs, which only read stored masks, do not (code_inputs.NOT_RUN).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    degrees: tuple[str, ...] = ()  # integer degrees; the first is the one solved for a target sparsity
    needs: frozenset[str] = frozenset()  # inputs beyond the tokens: "parse", "embeddings", "reference"
    seeded: bool = False  # a random draw: its masks are drawn anew for every run seed
    symmetric: bool = True  # its links go both ways (random partners and BigBird's do not)
    links: Callable | None = None  # (inputs, **degrees[, seed]) -> (n, n) bool; None: drawn elsewhere
    baseline: bool = False  # the unmasked baseline: every link kept, no policy applied, no masks stored


KINDS: dict[str, Kind] = {}


def pattern_kind(name: str, degrees=(), needs=(), seeded=False, symmetric=True, baseline=False):
    """Defines a pattern kind: its terms, and the decorated function as the builder of its links
    (masks.patterns adds the forced links, the special-token policy and the storage). A new kind
    is one such function here; the schema, the workflow and the masks stage read it from KINDS."""

    def define(links: Callable | None) -> Callable | None:
        KINDS[name] = Kind(name, tuple(degrees), frozenset(needs), seeded, symmetric, links, baseline)
        return links

    return define


# Builders import numpy where they run (the masks stage's env), so that this module imports the
# standard library only. ``inputs`` is a masks.MaskInputs: n, word_ids, word_hops, word_vectors,
# example_index.


@pattern_kind("dense", baseline=True)
def dense_links(inputs):
    import numpy as np

    return np.ones((inputs.n, inputs.n), dtype=bool)


@pattern_kind("neighbour", degrees=("w",))
def neighbour_links(inputs, w: int):
    """|i - j| <= w on token positions."""
    import numpy as np

    pos = np.arange(inputs.n)
    return np.abs(pos[:, None] - pos[None, :]) <= w


@pattern_kind("global", degrees=("g",))
def global_links(inputs, g: int):
    """The g leading tokens attend to, and are attended by, every token."""
    import numpy as np

    allowed = np.zeros((inputs.n, inputs.n), dtype=bool)
    allowed[:g, :] = True
    allowed[:, :g] = True
    return allowed


def per_row_partner_order(n: int, seed: int, example_index: int):
    """(n, n-1) array: row i lists every other token in a random order seeded per example.

    Taking the first k entries of a row draws k partners uniformly without replacement, and the
    draws are nested in k, so a larger degree never removes a link (degree solving relies on it).
    """
    import numpy as np

    rng = np.random.default_rng([seed, example_index])
    keys = rng.random((n, n))
    np.fill_diagonal(keys, np.inf)  # the diagonal sorts last and is dropped
    return np.argsort(keys, axis=1, kind="stable")[:, : n - 1]


@pattern_kind("random", degrees=("k",), seeded=True, symmetric=False)
def random_links(inputs, k: int, seed: int = 0):
    """k uniformly drawn partners per token (not symmetrized), seeded per example."""
    import numpy as np

    n = inputs.n
    allowed = np.zeros((n, n), dtype=bool)
    k = min(k, n - 1)
    if k > 0:
        order = per_row_partner_order(n, seed, inputs.example_index)[:, :k]
        np.put_along_axis(allowed, order, True, axis=1)
    return allowed


def lift_word_relation(word_relation, word_ids):
    """Token i, j are linked when their words are; special tokens (word id -1) get no links."""
    import numpy as np

    word_ids = np.asarray(word_ids)
    is_word = word_ids >= 0
    allowed = np.zeros((len(word_ids), len(word_ids)), dtype=bool)
    idx = np.flatnonzero(is_word)
    allowed[np.ix_(idx, idx)] = word_relation[np.ix_(word_ids[idx], word_ids[idx])]
    return allowed


@pattern_kind("syntax", degrees=("k",), needs=("parse",))
def syntax_links(inputs, k: int):
    """Words within k hops in the undirected dependency tree, lifted to tokens."""
    if inputs.word_hops is None:
        raise ValueError("syntax pattern needs dependency parses (word_hops)")
    return lift_word_relation(inputs.word_hops <= k, inputs.word_ids)


@pattern_kind("lexical", degrees=("k",), needs=("embeddings",))
def lexical_links(inputs, k: int):
    """Each word linked to its k most similar words in the input (cosine of input embeddings), symmetrized."""
    import numpy as np

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


@pattern_kind("bigbird", degrees=("g", "w", "r"), seeded=True, symmetric=False)
def bigbird_links(inputs, g: int, w: int, r: int, seed: int = 0):
    """BigBird (Zaheer et al. 2020): the union of global(g), neighbour(w) and random(r)."""
    return global_links(inputs, g) | neighbour_links(inputs, w) | random_links(inputs, r, seed)


@pattern_kind("dilated", degrees=("w", "d"))
def dilated_links(inputs, w: int, d: int):
    """|i - j| = k d for k = 0..w: w neighbours on each side, d positions apart (Longformer's
    dilated window; d = 1: the neighbour window; d = 0 counts as 1)."""
    import numpy as np

    pos = np.arange(inputs.n)
    gap, step = np.abs(pos[:, None] - pos[None, :]), max(d, 1)
    return (gap <= w * step) & (gap % step == 0)


# a random control with the per-row degrees of another pattern (patterns.<name>.reference): no
# builder of its own, its links are drawn from the reference's mask (masks.build_matched_random_mask)
pattern_kind("matched_random", needs=("reference",), seeded=True, symmetric=False)(None)
SEEDED_KINDS = tuple(name for name, kind in KINDS.items() if kind.seeded)
BASELINE_KIND = next(name for name, kind in KINDS.items() if kind.baseline)  # what every delta is against
GRID_KINDS = tuple(name for name, kind in KINDS.items() if kind.degrees)  # what a pattern grid may sweep


def get_kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown pattern kind {name!r}; known: {', '.join(KINDS)}") from None


# A researcher's own kinds, without a fork: a package of theirs declares, under this entry-point
# group, the module whose import runs its @pattern_kind definitions, named by the kind it defines
# (pyproject.toml: [project.entry-points."breaking_bert.pattern_kinds"] stride = "my_kinds").
# It must be importable wherever the workflow and its jobs run (the virtualenv, or each rule's env).
ENTRY_POINT_GROUP = "breaking_bert.pattern_kinds"


def plugin_modules() -> dict[str, str]:
    """kind name -> the module an installed package registers it from (ENTRY_POINT_GROUP)."""
    from importlib.metadata import entry_points

    return {point.name: point.value.split(":")[0] for point in entry_points(group=ENTRY_POINT_GROUP)}


def load_plugin_kinds() -> None:
    """Imports each plugin module; each must define the kind its entry point is named for, and no
    kind of the project's own."""
    import importlib

    own = set(KINDS)
    for name, module in plugin_modules().items():
        if name in own:
            raise ValueError(f"entry point {ENTRY_POINT_GROUP}: {name!r} ({module}) is a kind of the project's own")
        importlib.import_module(module)
        if name not in KINDS:
            raise ValueError(f"entry point {ENTRY_POINT_GROUP}: {module} defines no kind named {name!r} "
                             "(the entry point's name is the kind's)")


load_plugin_kinds()

