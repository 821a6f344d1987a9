"""The finetune job: a sequence classifier trained and evaluated with sparse attention at chosen layers.

A plain, readable loop (nanoGPT-style) rather than the HF Trainer: AdamW with linear warm-up and
decay, dynamic padding, length-grouped batches, gradient accumulation, bf16 autocast on GPU, an
evaluation per epoch, and checkpoints that make a killed job resume to the same final metrics.

Checkpoints are scratch: each carries the run's identity (identity.py), a job resumes only from
one with the same identity, and ``write_results`` deletes them once the job's results are written.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from .attention import (
    LEARNED_IMPLEMENTATION,
    SparseAttention,
    check_model_is_maskable,
    implementation_name,
    register_sparse_attention,
    to_backend_mask,
)
from .identity import differences, engine_code_digest, file_digest, fingerprint, flatten
from .learned import (
    DensityBudget,
    DensityObjective,
    LearnedBatch,
    LearnedConfig,
    LearnedNeighbourDegrees,
    expected_density,
    per_example_sparsity,
)
from .masks import MaskSet
from .models import explain_load_failure, resolve_model_path
from .vocabulary import placement_layers


@dataclass
class TrainingConfig:
    epochs: int = 3
    batch_size: int = 32
    eval_batch_size: int = 128
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    gradient_accumulation: int = 1
    max_grad_norm: float = 1.0
    backend: str = "sdpa"  # eager | sdpa | flex (GPU training only)
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = True  # autocast on GPU; ignored on CPU (fp32 there)
    length_group_megabatch: int = 50  # batches per megabatch sorted by length (HF's LengthGroupedSampler)
    checkpoint_every_steps: int = 200  # also at each epoch end but the last, and on SIGTERM
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict, seed: int) -> "TrainingConfig":
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "seed": seed})


class Preempted(SystemExit):
    """Raised after a SIGTERM once the checkpoint is on disk; the job exits non-zero and resumes later."""


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class SplitData:
    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray]
    labels: np.ndarray
    masks: MaskSet | None
    separators: list[np.ndarray]  # [SEP] positions (special tokens after [CLS]): learned windows skip them

    @classmethod
    def load(cls, tokens_path, masks_path=None) -> "SplitData":
        frame = pd.read_parquet(tokens_path, columns=["input_ids", "token_type_ids", "word_ids", "label"])
        masks = MaskSet.load(masks_path) if masks_path else None
        data = cls(
            input_ids=[np.asarray(x, dtype=np.int64) for x in frame["input_ids"]],
            token_type_ids=[np.asarray(x, dtype=np.int64) for x in frame["token_type_ids"]],
            labels=frame["label"].to_numpy(dtype=np.int64),
            masks=masks,
            separators=[np.flatnonzero(np.asarray(w)[1:] < 0) + 1 for w in frame["word_ids"]],
        )
        if masks is not None:
            lengths = np.array([len(x) for x in data.input_ids])
            if len(masks) != len(lengths) or not np.array_equal(masks.lengths, lengths):
                raise ValueError(f"masks {masks_path} do not match the tokens {tokens_path}; rebuild the masks")
        return data

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.input_ids])


def length_grouped_batches(lengths: np.ndarray, batch_size: int, megabatch: int, seed: int) -> list[np.ndarray]:
    """Shuffled batches whose members have similar lengths (less padding), seeded per epoch."""
    order = np.random.default_rng(seed).permutation(len(lengths))
    size = batch_size * megabatch
    batches = []
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return batches


def collate(data: SplitData, indices, pad_id: int, backend: str, layers: frozenset, device, dtype, learned=None):
    length = max(len(data.input_ids[i]) for i in indices)
    batch = len(indices)
    input_ids = np.full((batch, length), pad_id, dtype=np.int64)
    token_type_ids = np.zeros((batch, length), dtype=np.int64)
    padding = np.zeros((batch, length), dtype=np.int64)
    for row, i in enumerate(indices):
        n = len(data.input_ids[i])
        input_ids[row, :n] = data.input_ids[i]
        token_type_ids[row, :n] = data.token_type_ids[i]
        padding[row, :n] = 1
    inputs = {
        "input_ids": torch.from_numpy(input_ids).to(device),
        "token_type_ids": torch.from_numpy(token_type_ids).to(device),
        "attention_mask": torch.from_numpy(padding).to(device),
    }
    if data.masks is not None and layers:
        allowed = torch.from_numpy(data.masks.padded_batch(indices, length)).to(device)
        inputs["sparse_attention"] = SparseAttention(
            to_backend_mask(allowed, inputs["attention_mask"], backend, dtype), layers
        )
    if learned is not None:
        separators = np.zeros((batch, length), dtype=bool)
        for row, i in enumerate(indices):
            separators[row, data.separators[i]] = True
        separators = torch.from_numpy(separators).to(device)
        inputs["learned_attention"] = LearnedBatch.build(learned, inputs["attention_mask"], separators)
    labels = torch.from_numpy(data.labels[np.asarray(indices)]).to(device)
    return inputs, labels


# ---------------------------------------------------------------------------------------------
# Metrics


def classification_metrics(predictions: np.ndarray, labels: np.ndarray, num_labels: int) -> dict:
    """Accuracy, F1 (binary: of class 1; else macro) and Matthews correlation (multi-class form)."""
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    total = confusion.sum()
    accuracy = float(np.trace(confusion) / total) if total else float("nan")
    tp = np.diag(confusion).astype(float)
    precision = np.divide(tp, confusion.sum(axis=0), out=np.zeros_like(tp), where=confusion.sum(axis=0) > 0)
    recall = np.divide(tp, confusion.sum(axis=1), out=np.zeros_like(tp), where=confusion.sum(axis=1) > 0)
    f1_per_class = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0
    )
    f1 = float(f1_per_class[1]) if num_labels == 2 else float(f1_per_class.mean())
    t_k, p_k = confusion.sum(axis=1).astype(float), confusion.sum(axis=0).astype(float)
    c, s = float(np.trace(confusion)), float(total)
    denominator = math.sqrt(max(s * s - p_k @ p_k, 0.0) * max(s * s - t_k @ t_k, 0.0))
    matthews = float((c * s - t_k @ p_k) / denominator) if denominator > 0 else 0.0
    return {"accuracy": accuracy, "f1": f1, "matthews": matthews}


# ---------------------------------------------------------------------------------------------
# Checkpoints (safetensors + JSON; no pickle)


def _flatten_optimizer(optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, param_state in state["state"].items():
        for key, value in param_state.items():
            if torch.is_tensor(value):
                tensors[f"{param_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{param_id}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in list(tensors.items()) + list(meta["scalars"].items()):
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(directory: Path, model, optimizer, scheduler, progress: dict, identity: dict) -> None:
    """checkpoint-<step>/ with state.json written last, so a half-written checkpoint is never used;
    state.json carries the run's identity, so only the same run resumes from it."""
    target = directory / f"checkpoint-{progress['global_step']:08d}"
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    optimizer_tensors, optimizer_meta = _flatten_optimizer(optimizer)
    rng = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["torch_cuda"] = torch.cuda.get_rng_state()
    save_file(optimizer_tensors, tmp / "optimizer.safetensors")
    save_file(rng, tmp / "rng.safetensors")
    state = {**progress, "optimizer": optimizer_meta, "scheduler": scheduler.state_dict(),
             "identity": identity, "fingerprint": fingerprint(identity)}
    (tmp / "state.json").write_text(json.dumps(state))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    for old in directory.glob("checkpoint-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(directory: Path) -> Path | None:
    done = sorted(p for p in directory.glob("checkpoint-*") if (p / "state.json").exists() and p.suffix != ".tmp")
    return done[-1] if done else None


def checkpoint_identity(path: Path) -> dict:
    return json.loads((path / "state.json").read_text()).get("identity", {})


def remove_checkpoints(directory: str | Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def load_checkpoint(path: Path, model, optimizer, scheduler, device) -> dict:
    model.load_state_dict(load_file(path / "model.safetensors", device=str(device)))
    state = json.loads((path / "state.json").read_text())
    optimizer.load_state_dict(_unflatten_optimizer(load_file(path / "optimizer.safetensors"), state["optimizer"]))
    scheduler.load_state_dict(state["scheduler"])
    rng = load_file(path / "rng.safetensors")
    torch.set_rng_state(rng["torch_cpu"])
    if "torch_cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["torch_cuda"])
    return state


# ---------------------------------------------------------------------------------------------
# The job


@dataclass
class FinetuneJob:
    model_cfg: dict
    train_tokens: str
    eval_tokens: str
    num_labels: int
    placement: str
    training: TrainingConfig
    train_masks: str | None = None
    eval_masks: str | None = None
    primary_metric: str = "accuracy"
    checkpoint_dir: str = "checkpoints"
    lock_dir: str = "results/.gpu_slots"
    threads: int = 1
    learned: LearnedConfig | None = None  # experiment 3: learn neighbour degrees instead of a fixed mask
    model_output: str | None = None  # a folder for the final weights (training.save_model), else none kept
    extra: dict = field(default_factory=dict)


def state_dict_digest(model) -> str:
    """SHA-256 of a model's weights as loaded (pretrained encoder + seeded new head), by content."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode() + b"\0" + str(tensor.dtype).encode())
        digest.update(tensor.detach().reshape(-1).contiguous().view(torch.uint8).cpu().numpy().tobytes())
    return digest.hexdigest()


def run_identity(job: FinetuneJob, cfg: TrainingConfig, model) -> dict:
    """Everything that determines this run's result, flat (identity.py): the resolved training
    config and seed, the learned-sparsity settings, the placement, the initial weights, the tokens
    and masks by content, the engine's code and the library versions. Not in it: when checkpoints
    are written, threads, paths."""
    import transformers

    training = {k: v for k, v in asdict(cfg).items() if k != "checkpoint_every_steps"}
    inputs = {"train_tokens": job.train_tokens, "eval_tokens": job.eval_tokens,
              "train_masks": job.train_masks, "eval_masks": job.eval_masks}
    return flatten({
        "training": training,
        "learned": asdict(job.learned) if job.learned is not None else {"enabled": False},
        "placement": job.placement,
        "num_labels": job.num_labels,
        "primary_metric": job.primary_metric,
        "initial_weights": state_dict_digest(model),
        "inputs": {name: file_digest(path) for name, path in inputs.items()},
        "engine_code": engine_code_digest(),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    })


_IMPORTED_AT = time.time()


def process_started_at() -> float:
    """When this process started, in epoch seconds (Linux: /proc, to 1/100 s), so a job's start-up
    includes the interpreter and its imports; elsewhere, when this module was imported."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time in ticks since boot
    except (OSError, StopIteration, IndexError, ValueError):
        return _IMPORTED_AT


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def evaluate(model, data: SplitData, cfg: TrainingConfig, pad_id, layers, device, num_labels, learned=None) -> dict:
    """The task metrics; with learned degrees, evaluated with the hardened (integer-window) masks,
    whose per-example sparsity is reported too."""
    model.eval()
    predictions, sparsities, loss_sum = [], [], 0.0
    order = np.argsort(-data.lengths(), kind="stable")  # length-sorted: least padding
    if learned is not None:
        learned.hard = True
    with torch.no_grad(), _autocast(device, cfg):
        for start in range(0, len(order), cfg.eval_batch_size):
            indices = order[start : start + cfg.eval_batch_size]
            inputs, labels = collate(data, indices, pad_id, cfg.backend, layers, device, torch.float32, learned)
            logits = model(**inputs).logits.float()
            loss_sum += torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item()
            predictions.append(logits.argmax(-1).cpu().numpy())
            if learned is not None:
                sparsities.append(per_example_sparsity(inputs["learned_attention"]).float().cpu().numpy())
    predicted = np.empty(len(data), dtype=np.int64)
    predicted[order] = np.concatenate(predictions) if predictions else []
    model.train()
    metrics = classification_metrics(predicted, data.labels, num_labels)
    metrics["loss"] = loss_sum / max(len(data), 1)  # continuous: tells two runs apart where accuracy ties
    if learned is not None:
        learned.hard = False
        sparsity = np.concatenate(sparsities)
        metrics.update(sparsity_mean=float(sparsity.mean()), sparsity_std=float(sparsity.std()))
    return metrics


def _autocast(device: torch.device, cfg: TrainingConfig):
    enabled = device.type == "cuda" and cfg.bf16
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def load_classifier(model_cfg: dict, num_labels: int, backend: str, device, learned: bool = False):
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    register_sparse_attention()
    name = resolve_model_path(model_cfg["name_or_path"])
    hf_logging.set_verbosity_error()  # the "classifier newly initialised" report is expected here
    if backend == "flex" and not learned:
        if torch.device(device).type == "cpu":
            raise ValueError(
                "training.backend=flex trains on a GPU only: torch 2.13's FlexAttention has no backward "
                "pass on CPU. Use backend sdpa (or eager) on CPU."
            )
        # FlexAttention has no attention dropout; flex runs train without it (compare them with flex runs)
        extra = {"attention_probs_dropout_prob": 0.0}
    else:
        extra = {}
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            name,
            num_labels=num_labels,
            **extra,
            attn_implementation=LEARNED_IMPLEMENTATION if learned else implementation_name(backend),
            trust_remote_code=bool(model_cfg.get("trust_remote_code", False)),
        )
    except Exception as error:
        raise explain_load_failure(name, error) from None
    model.to(device)
    check_model_is_maskable(model, "eager" if learned else backend)
    if backend == "flex" and not learned:
        check_flex_head_dim(model.config)
    return model


def check_flex_head_dim(config) -> None:
    """FlexAttention's GPU kernel needs heads of at least 16 dimensions (tl.dot's minimum); below
    that torch fails deep inside compilation, so say it here, in the config's terms."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if head_dim < 16:
        raise ValueError(
            f"training.backend=flex needs attention heads of at least 16 dimensions; this model has "
            f"{head_dim} (hidden_size {config.hidden_size} / {config.num_attention_heads} heads). Use backend sdpa."
        )


def run_finetune(job: FinetuneJob) -> dict:
    from .devices import claim_device

    cfg = job.training
    torch.set_num_threads(max(1, job.threads))
    claim = claim_device(cfg.device, job.lock_dir)
    device = torch.device(claim.device)
    try:
        return _train(job, cfg, device, claim)
    finally:
        claim.release()


def _train(job: FinetuneJob, cfg: TrainingConfig, device: torch.device, claim) -> dict:
    from transformers import AutoTokenizer

    torch.manual_seed(cfg.seed)
    train = SplitData.load(job.train_tokens, job.train_masks)
    evaluation = SplitData.load(job.eval_tokens, job.eval_masks)
    model = load_classifier(job.model_cfg, job.num_labels, cfg.backend, device, learned=job.learned is not None)
    pad_id = AutoTokenizer.from_pretrained(resolve_model_path(job.model_cfg["name_or_path"])).pad_token_id or 0
    layers = placement_layers(job.placement, model.config.num_hidden_layers)
    learned, objective, budget = None, None, None
    groups = []
    longest = int(train.lengths().max()) if len(train) else 1
    if job.learned is not None:
        learned = LearnedNeighbourDegrees(model.config.num_hidden_layers, model.config.num_attention_heads, job.learned)
        model.learned_degrees = learned.to(device)  # a submodule: checkpointed with the model
        if not learned.frozen:  # a control's windows are fixed: no objective, no budget, no steps
            groups.append({"params": [learned.radius], "weight_decay": 0.0, "lr": job.learned.radius_learning_rate})
            if job.learned.objective == "penalty":
                objective = DensityObjective(job.learned)
            else:
                sample = np.random.default_rng(cfg.seed).permutation(len(train))[: job.learned.budget_sample]
                budget = DensityBudget(train.lengths()[sample], job.learned.num_classes,
                                       job.learned.target_sparsity, [train.separators[i] for i in sample])
                budget.hold(learned, longest)
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

    try:
        bar = tqdm(total=total_steps, initial=progress["global_step"], desc="finetune", mininterval=5)
        while progress["epoch"] < cfg.epochs:
            epoch = progress["epoch"]
            batches = length_grouped_batches(lengths, cfg.batch_size, cfg.length_group_megabatch, cfg.seed * 1000 + epoch)
            started = time.perf_counter()
            while progress["batch"] < len(batches):
                indices = batches[progress["batch"]]
                inputs, labels = collate(train, indices, pad_id, cfg.backend, layers, device, torch.float32, learned)
                with _autocast(device, cfg):
                    logits = model(**inputs).logits
                loss = torch.nn.functional.cross_entropy(logits.float(), labels)
                if objective is not None:
                    loss = loss + objective(expected_density(inputs["learned_attention"]))
                loss = loss / cfg.gradient_accumulation
                loss.backward()
                progress["batch"] += 1
                progress["train_samples"] += len(indices)
                if progress["batch"] % cfg.gradient_accumulation == 0 or progress["batch"] == len(batches):
                    # the model's gradients only: the radii take their own steps, and a density
                    # penalty's gradient clipped with the model's would shrink the task's
                    torch.nn.utils.clip_grad_norm_(model_parameters, cfg.max_grad_norm)
                    optimizer.step()
                    if budget is not None:
                        budget.hold(learned, longest)
                    elif learned is not None and not learned.frozen:
                        learned.project(longest)
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    progress["global_step"] += 1
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item() * cfg.gradient_accumulation:.3f}", refresh=False)
                    at_boundary = progress["batch"] % cfg.gradient_accumulation == 0
                    periodic = cfg.checkpoint_every_steps and progress["global_step"] % cfg.checkpoint_every_steps == 0
                    if at_boundary and (periodic or stop_requested["flag"]):
                        progress["train_seconds"] += time.perf_counter() - started
                        timed("checkpoint", save_checkpoint, checkpoint_dir, model, optimizer, scheduler, progress, identity)
                        started = time.perf_counter()
                        if stop_requested["flag"]:
                            raise Preempted(143)
            progress["train_seconds"] += time.perf_counter() - started
            metrics = timed("evaluation", evaluate, model, evaluation, cfg, pad_id, layers, device, job.num_labels, learned)
            progress["history"].append({"epoch": epoch + 1, "step": progress["global_step"], **metrics})
            print(f"epoch {epoch + 1}: {metrics}", file=sys.stderr)
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
    import transformers

    if job.model_output is not None:
        timed("model_save", model.save_pretrained, job.model_output)

    learned_results = {}
    if learned is not None:
        learned_results = {
            "learned": asdict(job.learned),
            "learned_windows": learned.windows().cpu().tolist(),  # [layer][head][class], hardened
            "learned_radius": learned.radius.detach().cpu().tolist(),
            "radius_learning_rate_last": float(optimizer.param_groups[-1]["lr"]) if groups else 0.0,
            "budget_sparsity": 1 - budget.density(learned.windows()) if budget is not None else None,
        }
    return {
        "metric": job.primary_metric,
        "score": final[job.primary_metric],
        **{f"eval_{k}": v for k, v in final.items() if k not in ("epoch", "step")},
        "history": progress["history"],
        "placement": job.placement,
        "masked_layers": sorted(layers),
        "num_layers": model.config.num_hidden_layers,
        "train_examples": len(train),
        "eval_examples": len(evaluation),
        "train_samples_per_second": progress["train_samples"] / max(progress["train_seconds"], 1e-9),
        "train_seconds": progress["train_seconds"],
        "peak_memory_mb": _peak_memory_mb(device),
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
        **learned_results,
        "timing": _timing(process_started_at(), loop_started, progress["train_seconds"] - trained_before, seconds),
    }


def _timing(process_started: float, loop_started: float, training: float, seconds: dict) -> dict:
    """This process's wall time split into start-up (interpreter, imports, model, data and masks,
    up to the first step), training steps, evaluation, checkpoint writes and the model save; what
    is left (``unaccounted``) is the bookkeeping between them. Writing metrics.json, deleting the
    checkpoints and logging to MLflow come after and are not in ``total``."""
    total = time.time() - process_started
    parts = {"startup": loop_started - process_started, "training": training, **seconds}
    return {**parts, "total": total, "unaccounted": total - sum(parts.values())}


def write_results(metrics: dict, metrics_path: str | Path, checkpoint_dir: str | Path) -> None:
    """The job's metrics.json, then its checkpoints go: a finished run leaves no state to resume
    from (a rerun trains anew) and no model-sized files on disk."""
    write_json_atomically(metrics, metrics_path)
    remove_checkpoints(checkpoint_dir)


def write_json_atomically(payload: dict, path: str | Path) -> None:
    """Write to a sibling temp file then rename, so a crash never leaves a partial file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(payload, indent=2, default=str))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
