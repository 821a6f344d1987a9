"""Attention masks: every pattern of the paper, lifted from words to wordpieces, stored bit-packed.

Conventions (docs/MASKS.md has them in full):
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

Rooms by concern: ``inputs`` (what a pattern may look at, assembled from a split's tokens, parses
and embeddings), ``patterns`` (forced links, and a kind's links made a mask), ``solving`` (degrees
for a target sparsity, one search, and the masks stage's checks), ``storage`` (bit-packed sets),
``effective`` (the connections that reach the classifier). The package loads a room when one of
its names is used (``breaking_bert.lazy``): reading stored masks does not load the builders. A new
pattern kind is one decorated builder in ``breaking_bert.kinds`` (docs/DESIGN.md has a worked
example).
"""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "inputs": (
        "CROSS_SEGMENT_POLICIES", "SPECIAL_TOKEN_POLICIES", "MaskInputs", "MaskOptions", "mask_inputs_for_split",
        "word_vectors_from_embeddings",
    ),
    "patterns": ("build_mask", "build_matched_random_mask", "draw_seed", "forced_links", "pattern_tokens",),
    "solving": (
        "UnreachableSparsity", "build_split_masks", "check_achieved_sparsity", "mean_sparsity_at",
        "resolve_dataset_degrees", "solve_degree_for_dataset", "solve_degree_for_example",
    ),
    "effective": ("effective_sparsities", "effective_sparsity", "reachable_rows",),
    "storage": ("MaskSet", "sparsity",),
})
