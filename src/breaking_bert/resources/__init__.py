"""What a job asks of its machine and what it used: the training jobs' declared memory and runtime
reckoned from the model and the task (``training``, standard library only: the scheduling process
calls it), the GPU a job claims with a file lock and how many jobs share one (``devices``), and the
check of every finished job against its declaration (``check``: ``./run.sh memory``). The package
loads a room only when one of its names is used (``breaking_bert.lazy``).
"""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "training": ("model_shape", "model_weights_mb", "parameter_count", "training_memory_mb", "training_runtime_minutes"),
    "devices": ("GPU_SLOTS", "DeviceClaim", "claim_device", "claim_gpu_slot"),
    "check": ("declared_jobs", "measured", "per_rule"),
})
