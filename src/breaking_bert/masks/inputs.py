"""What a pattern may look at for one example, and its assembly from a split's stage outputs:
tokens (the tokens stage), hops between words (read from the parse stage's files by
``parse.word_hops_from_parse``) and word vectors (the model's input embeddings)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .policy import SPECIAL_TOKEN_POLICIES

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
    from ..parse import word_hops_from_parse  # the parse stage reads its own files
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
