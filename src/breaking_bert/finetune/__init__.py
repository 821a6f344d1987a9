"""The finetune job: a sequence classifier trained and evaluated with sparse attention at chosen layers.

A plain, readable loop (nanoGPT-style) rather than the HF Trainer: AdamW with linear warm-up and
decay, dynamic padding, length-grouped batches, gradient accumulation, bf16 autocast (GPU; CPU
opt-in), optional compilation, an evaluation per epoch (or after the last only), and checkpoints
that make a killed job resume to the same final metrics.

Rooms by concern: ``job`` (the config, inputs, identity and the classifier), ``data`` (splits,
batches, collation), ``loop`` (training and evaluation), ``checkpoints`` (and the results written
atomically), ``metrics`` (scores, memory, the timing split).
"""

from .checkpoints import write_json_atomically, write_results
from .data import SplitData, collate, length_grouped_batches
from .job import FinetuneJob, Preempted, TrainingConfig, check_flex_head_dim, load_classifier, run_identity, state_dict_digest
from .loop import evaluate, run_finetune
from .metrics import classification_metrics, process_started_at

__all__ = [
    "FinetuneJob", "Preempted", "SplitData", "TrainingConfig", "check_flex_head_dim", "classification_metrics",
    "collate", "evaluate", "length_grouped_batches", "load_classifier", "process_started_at", "run_finetune",
    "run_identity", "state_dict_digest", "write_json_atomically", "write_results",
]
