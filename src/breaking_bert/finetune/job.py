"""What a finetune job is: its training config, its inputs, the identity that says which run made
a result, and the classifier it loads (with the backend's checks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..attention import Backend, check_model_is_maskable, register_sparse_attention
from ..resources.devices import GPU_SLOTS
from ..identity import engine_code_digest, file_digest, flatten
from ..learned import LearnedConfig
from ..models import load_model


@dataclass
class TrainingConfig:
    epochs: int = 3
    max_steps: int | None = None  # stop after this many optimizer steps, then evaluate (a rehearsal)
    batch_size: int = 32
    eval_batch_size: int = 128
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    gradient_accumulation: int = 1
    max_grad_norm: float = 1.0
    backend: str = "sdpa"  # eager | sdpa | flex (GPU training only)
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = True  # autocast on GPU; on CPU only with cpu_bf16
    cpu_bf16: bool = False  # bf16 autocast on CPU too (opt-in: fast only where the CPU has bf16 instructions)
    compile: bool = False  # torch.compile the model (dynamic shapes: one compilation for all lengths)
    evaluate_each_epoch: bool = True  # False: evaluate after the last epoch only (the same final metrics)
    cls_only_last_layer: bool = True  # the last layer for [CLS] only (cls_only.py): the same model, fewer dropout draws
    length_group_megabatch: int = 50  # batches per megabatch sorted by length (HF's LengthGroupedSampler)
    checkpoint_every_steps: int = 200  # also at each epoch end but the last, and on SIGTERM
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict, seed: int) -> "TrainingConfig":
        """The config's ``training`` section (its defaults are these fields', tests/test_config.py
        checks) with the run's seed; ``save_model`` is the workflow's (it names the model output),
        ``jobs_per_gpu`` the device claim's (FinetuneJob)."""
        unknown = set(values) - set(cls.__dataclass_fields__) - WORKFLOW_TRAINING_KEYS
        if unknown:
            raise ValueError(f"training: unknown key(s) {', '.join(sorted(unknown))}; known: "
                             f"{', '.join(sorted(set(cls.__dataclass_fields__) - {'seed'}))}")
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "seed": seed})


# read by the workflow and the device claim, not by the training loop
WORKFLOW_TRAINING_KEYS = frozenset({"save_model", "jobs_per_gpu"})


class Preempted(SystemExit):
    """Raised after a SIGTERM once the checkpoint is on disk; the job exits non-zero and resumes later."""


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
    lock_dir: str = GPU_SLOTS
    jobs_per_gpu: int = 1  # jobs sharing a GPU (devices.py); where a job runs, not what it computes
    threads: int = 1
    learned: LearnedConfig | None = None  # experiment 3: learn neighbour degrees instead of a fixed mask
    model_output: str | None = None  # a folder for the final weights (training.save_model), else none kept


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


def load_classifier(model_cfg: dict, num_labels: int, backend: Backend, device):
    from transformers.utils import logging as hf_logging

    register_sparse_attention()
    hf_logging.set_verbosity_error()  # the "classifier newly initialised" report is expected here
    if backend.name == "flex" and torch.device(device).type == "cpu":
        raise ValueError(
            "training.backend=flex trains on a GPU only: torch 2.13's FlexAttention has no backward "
            "pass on CPU. Use backend sdpa (or eager) on CPU."
        )
    model = load_model(model_cfg, "AutoModelForSequenceClassification", num_labels=num_labels,
                       **dict(backend.config_changes), attn_implementation=backend.implementation)
    model.to(device)
    check_model_is_maskable(model, backend.mask_format)
    if backend.name == "flex":
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
