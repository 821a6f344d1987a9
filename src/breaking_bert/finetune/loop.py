"""The training loop: a plain, readable loop (nanoGPT-style) rather than the HF Trainer. AdamW with
linear warm-up and decay, dynamic padding, length-grouped batches, gradient accumulation, bf16
autocast (GPU; CPU opt-in), optional compilation, an evaluation per epoch (or after the last only),
and checkpoints that make a killed job resume to the same final metrics."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..attention import SDPA_KERNELS, backend_for
from ..identity import fingerprint
from ..models import load_tokenizer
from ..vocabulary import placement_layers
from .checkpoints import SigtermFlag, resume, save_checkpoint
from .cls_only import compute_last_layer_for_cls_only, why_not_cls_only
from .data import SplitData, collate, length_grouped_batches
from .job import FinetuneJob, Preempted, TrainingConfig, load_classifier, run_identity
from .metrics import Stopwatch, classification_metrics, environment, process_started_at, timing_split
from .regularisers import regulariser_for


def evaluate(model, data: SplitData, cfg: TrainingConfig, backend, pad_id, layers, device, num_labels, regulariser,
             forward=None) -> tuple[dict, np.ndarray]:
    """The task metrics and what the regulariser measures (learned windows: evaluated hardened,
    their sparsity and effective sparsity). ``forward``: the compiled model, if any. Returns the
    metrics and each example's predicted label (in the split's order)."""
    forward = model if forward is None else forward
    model.eval()
    predictions, loss_sum = [], 0.0
    order = np.argsort(-data.lengths(), kind="stable")  # length-sorted: least padding
    regulariser.start_evaluation()
    with torch.no_grad(), autocast(device, cfg):
        for start in range(0, len(order), cfg.eval_batch_size):
            indices = order[start : start + cfg.eval_batch_size]
            inputs, labels = collate(data, indices, pad_id, backend, layers, device, torch.float32)
            regulariser.add_inputs(inputs, data, indices)
            logits = forward(**inputs).logits.float()
            loss_sum += torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item()
            predictions.append(logits.argmax(-1).cpu().numpy())
            regulariser.observe(inputs)
    predicted = np.empty(len(data), dtype=np.int64)
    predicted[order] = np.concatenate(predictions) if predictions else []
    model.train()
    metrics = classification_metrics(predicted, data.labels, num_labels)
    metrics["loss"] = loss_sum / max(len(data), 1)  # continuous: tells two runs apart where accuracy ties
    metrics.update(regulariser.evaluation_metrics())
    return metrics, predicted


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

    from ..attention import compile_cache_for_this_cpu

    compile_cache_for_this_cpu()

    torch._inductor.config.fallback_random = True
    return torch.compile(model, dynamic=True)


def run_finetune(job: FinetuneJob, tracked=None) -> dict:
    """Train and evaluate one job. ``tracked``: its MLflow run (tracking.TrackedRun), which gets the
    mean training loss and the learning rate every ``log_every_steps`` optimizer steps and the eval
    metrics after each evaluation, as they happen."""
    from ..resources.devices import claim_device

    cfg = job.training
    torch.set_num_threads(max(1, job.threads))
    claim = claim_device(cfg.device, job.lock_dir, job.jobs_per_gpu)
    device = torch.device(claim.device)
    try:
        return _train(job, cfg, device, claim, tracked)
    finally:
        claim.release()


class StepLog:
    """The mean training loss and the learning rate, to the MLflow run every ``log_every_steps``."""

    def __init__(self, tracked, scheduler):
        self.tracked, self.scheduler, self.losses = tracked, scheduler, []

    def __call__(self, step: int, loss: float) -> None:
        self.losses.append(loss)
        if self.tracked is not None and step % self.tracked.log_every_steps == 0:
            self.tracked.log_metrics(step, {"train_loss": float(np.mean(self.losses)),
                                            "learning_rate": self.scheduler.get_last_lr()[0]})
            self.losses.clear()


def optimizer_and_schedule(model, cfg: TrainingConfig, groups: list[dict], device, total_steps: int):
    """AdamW over the model's parameters (no decay on biases and LayerNorm) and the regulariser's
    groups, with linear warm-up and decay; returns it, its scheduler and the parameters clipped."""
    named = [(n, p) for n, p in model.named_parameters() if not n.startswith("learned_degrees.")]
    decay = [p for n, p in named if p.ndim >= 2]
    no_decay = [p for n, p in named if p.ndim < 2]  # biases and LayerNorm
    # fused AdamW: one kernel for all parameters, ~5x faster steps than foreach on CPU (22M params)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}, *groups],
        lr=cfg.learning_rate,
        fused=device.type in ("cpu", "cuda"),
    )
    warmup = int(cfg.warmup_ratio * total_steps)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    # the radii keep a constant rate: decayed to zero with the model's, they could not follow the
    # constraint at the end of training
    factors = [lr_factor, lr_factor] + [lambda step: 1.0] * len(groups)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factors), [p for _, p in named]


def _train(job: FinetuneJob, cfg: TrainingConfig, device: torch.device, claim, tracked) -> dict:
    run = TrainingRun(job, cfg, device, tracked)
    with SigtermFlag() as sigterm:
        run.epochs(sigterm)
    return run.results(claim)


class TrainingRun:
    """One job's training: set up in the order its random numbers are drawn (the seed, then the
    classifier's initialisation, then the regulariser's), its epochs, and its results."""

    def __init__(self, job: FinetuneJob, cfg: TrainingConfig, device: torch.device, tracked):
        torch.manual_seed(cfg.seed)
        self.job, self.cfg, self.device, self.tracked = job, cfg, device, tracked
        self.train = SplitData.load(job.train_tokens, job.train_masks)
        self.evaluation = SplitData.load(job.eval_tokens, job.eval_masks)
        self.backend = backend_for(cfg.backend, learned=job.learned is not None)  # loading and collation share it
        self.model = model = load_classifier(job.model_cfg, job.num_labels, self.backend, device)
        self.pad_id = load_tokenizer(job.model_cfg).pad_token_id or 0
        self.layers = placement_layers(job.placement, model.config.num_hidden_layers)
        self.regulariser = regulariser_for(job, model, self.train, device, cfg.seed)
        self.last_layer = (why_not_cls_only(model, self.backend.mask_format) if cfg.cls_only_last_layer
                           else "training.cls_only_last_layer is false")  # None: it runs for [CLS] only
        if self.last_layer is None:
            compute_last_layer_for_cls_only(model)
        self.forward = compiled(model, cfg)  # checkpoints and the regulariser keep the uncompiled module
        steps_per_epoch = math.ceil(math.ceil(len(self.train) / cfg.batch_size) / cfg.gradient_accumulation)
        # training.max_steps cuts a run short (a rehearsal of a grid): the schedule is the cut one's
        self.total_steps = min(steps_per_epoch * cfg.epochs, cfg.max_steps or math.inf)
        self.optimizer, self.scheduler, self.clipped = optimizer_and_schedule(
            model, cfg, self.regulariser.param_groups(), device, self.total_steps)
        self.identity = run_identity(job, cfg, model)
        self.checkpoint_dir = Path(job.checkpoint_dir)
        self.progress, self.resumed_from = resume(self.checkpoint_dir, self.identity, model, self.optimizer,
                                                  self.scheduler, device)
        self.stopwatch, self.log_step = Stopwatch(), StepLog(tracked, self.scheduler)
        self.trained_before, self.loop_started = self.progress["train_seconds"], time.time()
        SDPA_KERNELS.clear()  # the job's own calls: not the load's maskability probe, nor an earlier job's

    def checkpoint(self) -> None:
        self.stopwatch.timed("checkpoint", save_checkpoint, self.checkpoint_dir, self.model, self.optimizer,
                             self.scheduler, self.progress, self.identity)

    def epochs(self, sigterm) -> None:
        """Every epoch from where the progress stands: its batches, its evaluation (each epoch's or
        the last's), and a checkpoint between epochs (none after the last: its results are in memory
        and written next, so a checkpoint would be deleted unread)."""
        cfg, progress = self.cfg, self.progress
        self.model.train()
        lengths = self.train.lengths()
        bar = tqdm(total=self.total_steps, initial=progress["global_step"], desc="finetune", mininterval=5)
        while progress["epoch"] < cfg.epochs:
            epoch = progress["epoch"]
            batches = length_grouped_batches(lengths, cfg.batch_size, cfg.length_group_megabatch, cfg.seed * 1000 + epoch)
            started = time.perf_counter()
            while progress["batch"] < len(batches):
                started = self.batch(batches, bar, sigterm, started)
                if progress["global_step"] >= self.total_steps:
                    break  # max_steps reached mid-epoch
            progress["train_seconds"] += time.perf_counter() - started
            last = epoch + 1 == cfg.epochs or progress["global_step"] >= self.total_steps
            if cfg.evaluate_each_epoch or last:
                self.evaluate(epoch)
            progress["epoch"] += 1
            progress["batch"] = 0
            if last:
                break
            self.checkpoint()
            if sigterm.requested:
                raise Preempted(143)
        bar.close()

    def batch(self, batches, bar, sigterm, started: float) -> float:
        """One batch forward and backward; at an accumulation boundary the optimizer step, the step's
        log and, when due or asked (SIGTERM), a checkpoint. Returns when the timed training resumed."""
        cfg, progress = self.cfg, self.progress
        indices = batches[progress["batch"]]
        inputs, labels = collate(self.train, indices, self.pad_id, self.backend, self.layers, self.device, torch.float32)
        self.regulariser.add_inputs(inputs, self.train, indices)
        with autocast(self.device, cfg):
            logits = self.forward(**inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        loss = (loss + self.regulariser.loss(inputs)) / cfg.gradient_accumulation
        loss.backward()
        progress["batch"] += 1
        progress["train_samples"] += len(indices)
        if progress["batch"] % cfg.gradient_accumulation and progress["batch"] != len(batches):
            return started  # accumulating
        # the model's gradients only: the radii take their own steps, and a density penalty's
        # gradient clipped with the model's would shrink the task's
        torch.nn.utils.clip_grad_norm_(self.clipped, cfg.max_grad_norm)
        self.optimizer.step()
        self.regulariser.after_step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        progress["global_step"] += 1
        step_loss = loss.item() * cfg.gradient_accumulation
        bar.update(1)
        bar.set_postfix(loss=f"{step_loss:.3f}", refresh=False)
        self.log_step(progress["global_step"], step_loss)
        at_boundary = progress["batch"] % cfg.gradient_accumulation == 0
        periodic = cfg.checkpoint_every_steps and progress["global_step"] % cfg.checkpoint_every_steps == 0
        if at_boundary and (periodic or sigterm.requested):
            progress["train_seconds"] += time.perf_counter() - started
            self.checkpoint()
            started = time.perf_counter()
            if sigterm.requested:
                raise Preempted(143)
        return started

    def evaluate(self, epoch: int) -> None:
        metrics, self.predicted = self.stopwatch.timed(
            "evaluation", evaluate, self.model, self.evaluation, self.cfg, self.backend, self.pad_id, self.layers,
            self.device, self.job.num_labels, self.regulariser, self.forward)
        self.progress["history"].append({"epoch": epoch + 1, "step": self.progress["global_step"], **metrics})
        print(f"epoch {epoch + 1}: {metrics}", file=sys.stderr)
        if self.tracked is not None:
            self.tracked.log_epoch(self.progress["history"][-1])

    def results(self, claim) -> dict:
        """What the job's metrics.json holds of its training (run_finetune's result)."""
        job, progress, evaluation = self.job, self.progress, self.evaluation
        if job.model_output is not None:
            self.stopwatch.timed("model_save", self.model.save_pretrained, job.model_output)
        final = {**progress["history"][-1], **self.regulariser.final_metrics(evaluation, self.layers, self.model)}
        return {
            "metric": job.primary_metric,
            "score": final[job.primary_metric],
            **{f"eval_{k}": v for k, v in final.items() if k not in ("epoch", "step")},
            "history": progress["history"],
            # the last evaluation's prediction per eval example: how much of a cell's spread over seeds
            # is the sampling of the eval set (eval_sampling.py) is measured from them
            "eval_predictions": self.predicted.tolist(),
            "eval_labels": evaluation.labels.tolist(),
            "placement": job.placement,
            "masked_layers": sorted(self.layers),
            "last_layer": "cls only" if self.last_layer is None else f"all positions: {self.last_layer}",
            "num_layers": self.model.config.num_hidden_layers,
            "train_examples": len(self.train),
            "eval_examples": len(evaluation),
            "train_samples_per_second": progress["train_samples"] / max(progress["train_seconds"], 1e-9),
            "train_seconds": progress["train_seconds"],
            **environment(self.device, claim),
            "resumed": self.resumed_from is not None,
            "fingerprint": fingerprint(self.identity),
            "identity": self.identity,
            "training": asdict(self.cfg),
            **self.regulariser.results(self.optimizer),
            "timing": timing_split(process_started_at(), self.loop_started,
                                   progress["train_seconds"] - self.trained_before, self.stopwatch.seconds),
        }
