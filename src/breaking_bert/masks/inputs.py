"""What a pattern may look at for one example, and its assembly from a split's stage outputs:
tokens (the tokens stage), hops between words (read from the parse stage's files by
``parse.word_hops_from_parse``) and word vectors (the model's input embeddings)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
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


class SplitMaskInputs(Sequence[MaskInputs]):
    """A split's MaskInputs, each built when it is asked for (the last few kept).

    Held at once, a long-text split's hop matrices and word vectors outgrow memory: IMDB at 256
    wordpieces has ~200 words per review, so (m, m) hops are ~160 KB and (m, d) vectors ~600 KB per
    example, gigabytes over 12,000 reviews. Built on demand, a mask job's peak stays at one
    example's inputs plus the split's token and parse tables, whatever the split's size. The
    solvers read the same example several times in a row, which the small cache serves.
    """

    def __init__(self, tokens, parses=None, embeddings=None, needs=frozenset(), keep: int = 8):
        self._rows = tokens.to_dict("records")
        self._parses = parses.to_dict("records") if parses is not None and "parse" in needs else None
        self._embeddings = embeddings if "embeddings" in needs else None
        self._kept: OrderedDict[int, MaskInputs] = OrderedDict()
        self._keep = keep

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self))[index]  # negative indices; IndexError past the end
        if index in self._kept:
            self._kept.move_to_end(index)
            return self._kept[index]
        made = self._build(index)
        self._kept[index] = made
        if len(self._kept) > self._keep:
            self._kept.popitem(last=False)
        return made

    def _build(self, index: int) -> MaskInputs:
        from ..data.parse import word_hops_from_parse  # the parse stage reads its own files
        row = self._rows[index]
        return MaskInputs(
            word_ids=np.asarray(row["word_ids"]),
            segment_ids=np.asarray(row["segment_ids"]),
            example_index=index,
            word_hops=word_hops_from_parse(row, self._parses[index]) if self._parses is not None else None,
            word_vectors=word_vectors_from_embeddings(row, self._embeddings) if self._embeddings is not None else None,
        )


def mask_inputs_for_split(tokens, parses=None, embeddings=None, needs=frozenset()) -> SplitMaskInputs:
    """MaskInputs for every example of a split (tokens and parses are row-aligned frames), built
    as they are read (SplitMaskInputs)."""
    return SplitMaskInputs(tokens, parses, embeddings, needs)
