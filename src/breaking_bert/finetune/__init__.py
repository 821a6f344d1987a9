"""The finetune job: a sequence classifier trained and evaluated with sparse attention at chosen layers.

A plain, readable loop (nanoGPT-style) rather than the HF Trainer: AdamW with linear warm-up and
decay, dynamic padding, length-grouped batches, gradient accumulation, bf16 autocast (GPU; CPU
opt-in), optional compilation, an evaluation per epoch (or after the last only), and checkpoints
that make a killed job resume to the same final metrics.

Rooms by concern: ``job`` (the config, inputs, identity and the classifier), ``data`` (splits,
batches, collation), ``loop`` (training and evaluation), ``checkpoints`` (and the results written
atomically), ``metrics`` (scores, memory, the timing split).
"""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "checkpoints": ("write_json_atomically", "write_results",),
    "data": ("SplitData", "collate", "length_grouped_batches",),
    "job": (
        "FinetuneJob", "Preempted", "TrainingConfig", "check_flex_head_dim", "load_classifier", "run_identity",
        "state_dict_digest",
    ),
    "loop": ("evaluate", "run_finetune",),
    "metrics": ("classification_metrics", "process_started_at",),
})
