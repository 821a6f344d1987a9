"""The training loop: a plain, readable loop (nanoGPT-style) rather than the HF Trainer. AdamW with
linear warm-up and decay, dynamic padding, length-grouped batches, gradient accumulation, bf16
autocast (GPU; CPU opt-in), optional compilation, an evaluation per epoch (or after the last only),
and checkpoints that make a killed job resume to the same final metrics."""

from __future__ import annotations

import math
import platform
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..attention import backend_for
from ..identity import differences, fingerprint
from ..learned import per_example_effective_sparsity, per_example_sparsity
from ..masks import effective_sparsities
from ..models import resolve_model_path
from ..vocabulary import placement_layers
from .checkpoints import checkpoint_identity, latest_checkpoint, load_checkpoint, remove_checkpoints, save_checkpoint
from .cls_only import compute_last_layer_for_cls_only, why_not_cls_only
from .data import SplitData, collate, length_grouped_batches
from .job import FinetuneJob, Preempted, TrainingConfig, load_classifier, run_identity
from .metrics import classification_metrics, peak_memory_mb, process_started_at, timing_split
from .regularisers import regulariser_for


def evaluate(model, data: SplitData, cfg: TrainingConfig, backend, pad_id, layers, device, num_labels, learned=None,
             forward=None) -> tuple[dict, np.ndarray]:
    """The task metrics; with learned degrees, evaluated with the hardened (integer-window) masks,
    whose per-example sparsity and effective sparsity are reported too. ``forward``: the compiled
    model, if any. Returns the metrics and each example's predicted label (in the split's order)."""
    forward = model if forward is None else forward
    model.eval()
    predictions, sparsities, effective, loss_sum = [], [], [], 0.0
    order = np.argsort(-data.lengths(), kind="stable")  # length-sorted: least padding
    if learned is not None:
        learned.hard = True
    with torch.no_grad(), autocast(device, cfg):
        for start in range(0, len(order), cfg.eval_batch_size):
            indices = order[start : start + cfg.eval_batch_size]
            inputs, labels = collate(data, indices, pad_id, backend, layers, device, torch.float32, learned)
            logits = forward(**inputs).logits.float()
            loss_sum += torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item()
            predictions.append(logits.argmax(-1).cpu().numpy())
            if learned is not None:
                sparsities.append(per_example_sparsity(inputs["learned_attention"]).float().cpu().numpy())
                effective.append(per_example_effective_sparsity(inputs["learned_attention"]).float().cpu().numpy())
    predicted = np.empty(len(data), dtype=np.int64)
    predicted[order] = np.concatenate(predictions) if predictions else []
    model.train()
    metrics = classification_metrics(predicted, data.labels, num_labels)
    metrics["loss"] = loss_sum / max(len(data), 1)  # continuous: tells two runs apart where accuracy ties
    if learned is not None:
        learned.hard = False
        sparsity = np.concatenate(sparsities)
        metrics.update(sparsity_mean=float(sparsity.mean()), sparsity_std=float(sparsity.std()),
                       effective_sparsity_mean=float(np.concatenate(effective).mean()))
    return metrics, predicted


def fixed_effective_sparsity(data: SplitData, layers: frozenset, model) -> float:
    """The mean effective sparsity (masks/effective.py) of a split's masks at the placement's layers;
    0 for a dense run."""
    if data.masks is None or not layers:
        return 0.0
    return float(effective_sparsities(data.masks, layers, model.config.num_hidden_layers).mean())


def autocast(device: torch.device, cfg: TrainingConfig):
    enabled = cfg.bf16 and (device.type == "cuda" or cfg.cpu_bf16)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def compiled(model, cfg: TrainingConfig):
    """The callable the loop runs: the model, or its compilation. dynamic=True compiles once for
    every batch length and size, where the default would recompile as lengths change. Random ops
    (dropout) fall back to eager's generator: the same masks as an uncompiled run of the same seed,
    so the two differ only by the compiled kernels' float rounding."""
    if not cfg.compile:
        return model
    import torch._inductor.config

    torch._inductor.config.fallback_random = True
    return torch.compile(model, dynamic=True)


def run_finetune(job: FinetuneJob, tracked=None) -> dict:
    """Train and evaluate one job. ``tracked``: its MLflow run (tracking.TrackedRun), which gets the
    mean training loss and the learning rate every ``log_every_steps`` optimizer steps and the eval
    metrics after each evaluation, as they happen."""
    from ..devices import claim_device

    cfg = job.training
    torch.set_num_threads(max(1, job.threads))
    claim = claim_device(cfg.device, job.lock_dir)
    device = torch.device(claim.device)
    try:
        return _train(job, cfg, device, claim, tracked)
    finally:
        claim.release()


def _train(job: FinetuneJob, cfg: TrainingConfig, device: torch.device, claim, tracked) -> dict:
    from transformers import AutoTokenizer

    torch.manual_seed(cfg.seed)
    train = SplitData.load(job.train_tokens, job.train_masks)
    evaluation = SplitData.load(job.eval_tokens, job.eval_masks)
    backend = backend_for(cfg.backend, learned=job.learned is not None)  # loading and collation share it
    model = load_classifier(job.model_cfg, job.num_labels, backend, device)
    pad_id = AutoTokenizer.from_pretrained(resolve_model_path(job.model_cfg["name_or_path"])).pad_token_id or 0
    layers = placement_layers(job.placement, model.config.num_hidden_layers)
    regulariser = regulariser_for(job, model, train, device, cfg.seed)
    last_layer = (why_not_cls_only(model, backend.mask_format) if cfg.cls_only_last_layer
                  else "training.cls_only_last_layer is false")  # None: it runs for [CLS] only
    if last_layer is None:
        compute_last_layer_for_cls_only(model)
    forward = compiled(model, cfg)  # checkpoints and the regulariser keep the uncompiled module
    learned = regulariser.module  # collation builds the learned windows' batch from it (None: fixed)
    groups = regulariser.param_groups()
    named = [(n, p) for n, p in model.named_parameters() if not n.startswith("learned_degrees.")]
    decay = [p for n, p in named if p.ndim >= 2]
    no_decay = [p for n, p in named if p.ndim < 2]  # biases and LayerNorm
    # fused AdamW: one kernel for all parameters, ~5x faster steps than foreach on CPU (22M params)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}, *groups],
        lr=cfg.learning_rate,
        fused=device.type in ("cpu", "cuda"),
    )
    batches_per_epoch = math.ceil(len(train) / cfg.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / cfg.gradient_accumulation)
    total_steps = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_ratio * total_steps)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    # the radii keep a constant rate: decayed to zero with the model's, they could not follow the
    # constraint at the end of training
    factors = [lr_factor, lr_factor] + [lambda step: 1.0] * len(groups)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factors)
    model_parameters = [p for _, p in named]
    progress = {"epoch": 0, "batch": 0, "global_step": 0, "history": [], "train_seconds": 0.0, "train_samples": 0}
    identity = run_identity(job, cfg, model)
    checkpoint_dir = Path(job.checkpoint_dir)
    resumed_from = latest_checkpoint(checkpoint_dir)
    changed = differences(checkpoint_identity(resumed_from), identity) if resumed_from is not None else []
    if changed:
        print(f"discarding checkpoint {resumed_from}: made by a different run ({'; '.join(changed)})", file=sys.stderr)
        remove_checkpoints(checkpoint_dir)
        resumed_from = None
    if resumed_from is not None:
        saved = load_checkpoint(resumed_from, model, optimizer, scheduler, device)
        progress = {k: saved.get(k, progress[k]) for k in progress}
        print(f"resumed from {resumed_from} (epoch {progress['epoch']}, batch {progress['batch']})", file=sys.stderr)

    stop_requested = {"flag": False}

    def request_stop(signum, frame):
        stop_requested["flag"] = True

    previous_handler = signal.signal(signal.SIGTERM, request_stop)
    lengths = train.lengths()
    model.train()
    # where this process's wall time goes (issue: experiments per hour); a resumed run counts this
    # process only
    seconds = {"evaluation": 0.0, "checkpoint": 0.0, "model_save": 0.0}
    trained_before = progress["train_seconds"]
    loop_started = time.time()

    def timed(part, function, *args):
        started_part = time.perf_counter()
        result = function(*args)
        seconds[part] += time.perf_counter() - started_part
        return result

    step_losses = []  # since the last step metrics went to the MLflow run

    def log_step(loss_value: float) -> None:
        step_losses.append(loss_value)
        if tracked is not None and progress["global_step"] % tracked.log_every_steps == 0:
            tracked.log_metrics(progress["global_step"], {"train_loss": float(np.mean(step_losses)),
                                                          "learning_rate": scheduler.get_last_lr()[0]})
            step_losses.clear()

    try:
        bar = tqdm(total=total_steps, initial=progress["global_step"], desc="finetune", mininterval=5)
        while progress["epoch"] < cfg.epochs:
            epoch = progress["epoch"]
            batches = length_grouped_batches(lengths, cfg.batch_size, cfg.length_group_megabatch, cfg.seed * 1000 + epoch)
            started = time.perf_counter()
            while progress["batch"] < len(batches):
                indices = batches[progress["batch"]]
                inputs, labels = collate(train, indices, pad_id, backend, layers, device, torch.float32, learned)
                with autocast(device, cfg):
                    logits = forward(**inputs).logits
                loss = torch.nn.functional.cross_entropy(logits.float(), labels)
                loss = (loss + regulariser.loss(inputs)) / cfg.gradient_accumulation
                loss.backward()
                progress["batch"] += 1
                progress["train_samples"] += len(indices)
                if progress["batch"] % cfg.gradient_accumulation == 0 or progress["batch"] == len(batches):
                    # the model's gradients only: the radii take their own steps, and a density
                    # penalty's gradient clipped with the model's would shrink the task's
                    torch.nn.utils.clip_grad_norm_(model_parameters, cfg.max_grad_norm)
                    optimizer.step()
                    regulariser.after_step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    progress["global_step"] += 1
                    bar.update(1)
                    step_loss = loss.item() * cfg.gradient_accumulation
                    bar.set_postfix(loss=f"{step_loss:.3f}", refresh=False)
                    log_step(step_loss)
                    at_boundary = progress["batch"] % cfg.gradient_accumulation == 0
                    periodic = cfg.checkpoint_every_steps and progress["global_step"] % cfg.checkpoint_every_steps == 0
                    if at_boundary and (periodic or stop_requested["flag"]):
                        progress["train_seconds"] += time.perf_counter() - started
                        timed("checkpoint", save_checkpoint, checkpoint_dir, model, optimizer, scheduler, progress, identity)
                        started = time.perf_counter()
                        if stop_requested["flag"]:
                            raise Preempted(143)
            progress["train_seconds"] += time.perf_counter() - started
            if cfg.evaluate_each_epoch or epoch + 1 == cfg.epochs:
                metrics, predicted = timed("evaluation", evaluate, model, evaluation, cfg, backend, pad_id, layers, device,
                                job.num_labels, learned, forward)
                progress["history"].append({"epoch": epoch + 1, "step": progress["global_step"], **metrics})
                print(f"epoch {epoch + 1}: {metrics}", file=sys.stderr)
                if tracked is not None:
                    tracked.log_epoch(progress["history"][-1])
            progress["epoch"] += 1
            progress["batch"] = 0
            if progress["epoch"] == cfg.epochs:
                break  # the results are in memory and written next; a checkpoint would be deleted unread
            timed("checkpoint", save_checkpoint, checkpoint_dir, model, optimizer, scheduler, progress, identity)
            if stop_requested["flag"]:
                raise Preempted(143)
        bar.close()
    finally:
        signal.signal(signal.SIGTERM, previous_handler)

    final = progress["history"][-1]
    if learned is None:  # a fixed pattern's: its eval masks at this placement (learned: evaluate's)
        final = {**final, "effective_sparsity_mean": fixed_effective_sparsity(evaluation, layers, model)}
    import transformers

    if job.model_output is not None:
        timed("model_save", model.save_pretrained, job.model_output)

    return {
        "metric": job.primary_metric,
        "score": final[job.primary_metric],
        **{f"eval_{k}": v for k, v in final.items() if k not in ("epoch", "step")},
        "history": progress["history"],
        # the last evaluation's prediction per eval example: how much of a cell's spread over seeds
        # is the sampling of the eval set (variance.py) is measured from them
        "eval_predictions": predicted.tolist(),
        "eval_labels": evaluation.labels.tolist(),
        "placement": job.placement,
        "masked_layers": sorted(layers),
        "last_layer": "cls only" if last_layer is None else f"all positions: {last_layer}",
        "num_layers": model.config.num_hidden_layers,
        "train_examples": len(train),
        "eval_examples": len(evaluation),
        "train_samples_per_second": progress["train_samples"] / max(progress["train_seconds"], 1e-9),
        "train_seconds": progress["train_seconds"],
        "peak_memory_mb": peak_memory_mb(device),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "device_claim": claim.how,
        "resumed": resumed_from is not None,
        "fingerprint": fingerprint(identity),
        "identity": identity,
        "training": asdict(cfg),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "numpy": np.__version__,
        },
        **regulariser.results(optimizer),
        "timing": timing_split(process_started_at(), loop_started, progress["train_seconds"] - trained_before, seconds),
    }
