"""The engine's benchmarks: a finetune against the dense job and against the Hugging Face Trainer,
the last layer for [CLS] only, threads per job, torch.compile, jobs per GPU."""

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from breaking_bert.models import load_tokenizer
from .common import MODEL, bert_base_sized, finetune_processes, prepare_run_inputs, bench_device, cpu_has_bf16, report


def bench_engine():
    """samples/s of a sparse job (neighbour masks at all layers, masks loaded per batch) vs dense."""
    from breaking_bert.finetune import FinetuneJob, TrainingConfig, run_finetune

    device = bench_device()
    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = prepare_run_inputs(Path(tmp), 800 if device == "cpu" else 3200)
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


def _trainer_rows(tokens_path) -> list[dict]:
    """A tokens file as plain dicts: the Trainer batches them like a datasets.Dataset's rows."""
    frame = pd.read_parquet(tokens_path)
    return [{"input_ids": ids.tolist(), "token_type_ids": types.tolist(), "labels": int(label)}
            for ids, types, label in zip(frame["input_ids"], frame["token_type_ids"], frame["label"])]


def _run_trainer(paths, output_dir, bf16, warmup_steps, device, epochs, batch, tokenizer):
    """One Hugging Face Trainer run, dense, with the engine's settings: (train samples/s, accuracy)."""
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from breaking_bert.finetune import classification_metrics
    from breaking_bert.models import load_model

    torch.manual_seed(0)
    model = load_model(MODEL, "AutoModelForSequenceClassification", num_labels=2, attn_implementation="sdpa")
    args = TrainingArguments(output_dir=output_dir, per_device_train_batch_size=batch, per_device_eval_batch_size=128,
                             num_train_epochs=epochs, learning_rate=5e-5, weight_decay=0.01, warmup_steps=warmup_steps,
                             train_sampling_strategy="group_by_length", save_strategy="no", report_to=[],
                             use_cpu=device == "cpu", bf16=bf16, seed=0, logging_strategy="no", disable_tqdm=True)
    evaluation = _trainer_rows(paths["eval"][0])
    trainer = Trainer(model=model, args=args, train_dataset=_trainer_rows(paths["train"][0]), eval_dataset=evaluation,
                      data_collator=DataCollatorWithPadding(tokenizer))
    output = trainer.train()
    predictions = trainer.predict(evaluation)
    accuracy = classification_metrics(predictions.predictions.argmax(-1), predictions.label_ids, 2)["accuracy"]
    return output.metrics["train_samples_per_second"], accuracy


def bench_trainer():
    """Our engine vs the Hugging Face Trainer: same model, data, batch size, epochs, dense, same
    precision on both sides (fp32; also bf16 autocast on a GPU, the engine's default there, and on
    a CPU with bf16 instructions, where the engine needs training.cpu_bf16). The engine runs as
    configured by default (the last layer for [CLS] only) and with the full last layer, as the
    Trainer computes it; the three alternate (ABCABC)."""
    import torch

    from breaking_bert.finetune import FinetuneJob, TrainingConfig, run_finetune

    device = bench_device()
    epochs, batch = 2, 32
    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = prepare_run_inputs(Path(tmp), 800 if device == "cpu" else 3200)
        torch.set_num_threads(2)

        def run_ours(repeat, bf16, cls_only):
            job = FinetuneJob(
                model_cfg=MODEL, train_tokens=paths["train"][0], eval_tokens=paths["eval"][0], num_labels=2,
                placement="none", checkpoint_dir=f"{tmp}/ours{repeat}{bf16}{cls_only}", lock_dir=f"{tmp}/locks",
                threads=2, training=TrainingConfig.from_dict(
                    {"epochs": epochs, "batch_size": batch, "device": device, "bf16": bf16, "cpu_bf16": bf16,
                     "checkpoint_every_steps": 0, "cls_only_last_layer": cls_only}, 0),
            )
            return run_finetune(job)

        tokenizer = load_tokenizer(MODEL)
        trainer_settings = {"device": device, "epochs": epochs, "batch": batch, "tokenizer": tokenizer}
        # bf16 autocast on both sides where the hardware has it (a GPU, or a CPU with bf16 instructions)
        for bf16 in (False, True) if device == "cuda" or cpu_has_bf16() else (False,):
            ours, full, theirs = [], [], []
            if device == "cuda":  # an untimed run per precision: seen 3x slower the first time bf16 ran
                run_ours("warm-up", bf16, cls_only=True)
            for repeat in range(2):  # ABCABC: machine drift hits every side alike
                ours.append(run_ours(repeat, bf16, cls_only=True))
                full.append(run_ours(repeat, bf16, cls_only=False))
                theirs.append(_run_trainer(paths, f"{tmp}/trainer{repeat}{bf16}", bf16,
                                           int(0.1 * ours[0]["history"][-1]["step"]), **trainer_settings))
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
    from breaking_bert.stats.decision import decide
    from breaking_bert.stats.differences import difference
    from breaking_bert.finetune import FinetuneJob, TrainingConfig, run_finetune

    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = prepare_run_inputs(Path(tmp), 800)
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


def bench_threads():
    """The finetune rules' one thread per job: on this machine's cores, as many 1-thread jobs at once
    as there are cores, against the same jobs one after the other with every core each (what
    threads: <cores> gives). Sparse MiniLM jobs, 800 sentences, 1 epoch; ABAB."""
    import os

    cores = len(os.sched_getaffinity(0))
    training = {"epochs": 1, "device": "cpu", "checkpoint_every_steps": 0}
    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = prepare_run_inputs(Path(tmp), 800)
        walls, accuracies = {"one_job_per_core": [], "one_job_at_a_time": []}, set()
        for _ in range(2):
            for name, threads, concurrent in (("one_job_at_a_time", cores, False), ("one_job_per_core", 1, True)):
                wall, results = finetune_processes(paths, tmp, threads, training, cores, concurrent)
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
        paths, _, _ = prepare_run_inputs(Path(tmp), 800)
        rows = {}
        for compile_model in (False, True):
            training = {"epochs": 2, "device": "cpu", "checkpoint_every_steps": 0, "compile": compile_model}
            wall, (result,) = finetune_processes(paths, tmp, 2, training, 1, False)
            rows[compile_model] = {"wall_seconds": wall, **result}
        report("engine_compiled_vs_eager", device="cpu", eager_wall_seconds=rows[False]["wall_seconds"],
               compiled_wall_seconds=rows[True]["wall_seconds"],
               eager_samples_per_s=rows[False]["train_samples_per_second"],
               compiled_samples_per_s=rows[True]["train_samples_per_second"],
               eager_accuracy=rows[False]["eval_accuracy"], compiled_accuracy=rows[True]["eval_accuracy"],
               eager_loss=rows[False]["eval_loss"], compiled_loss=rows[True]["eval_loss"],
               ratio=rows[False]["wall_seconds"] / rows[True]["wall_seconds"], goal="> 1 to turn it on")


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
        paths, _, _ = prepare_run_inputs(Path(tmp), 3200)
        models = {"minilm": lambda: MODEL,
                  "bert_base_random": lambda: {"name_or_path": bert_base_sized(Path(tmp) / "bert-base")}}
        # BENCH_GPU_PACKING_MODELS=bert_base_random: one model alone (device time is scarce)
        chosen = os.environ.get("BENCH_GPU_PACKING_MODELS", ",".join(models)).split(",")
        for name in chosen:
            model = models[name]()
            # the first CUDA process of a model pays kernel loading and JIT (seen: half the speed of
            # the next): one untimed job first, so that K = 1 is not a cold start
            finetune_processes(paths, tmp, 2, training, 1, True, model, 1, env={"BREAKING_BERT_GPU_COUNT": "1"})
            single = None
            for jobs in (1, 2, 4, 8):
                wall, results = finetune_processes(paths, tmp, 2, training, jobs, True, model, jobs,
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
