"""What a job reports beside its score: classification metrics, peak memory, and where its wall
time went (start-up from the process's start, training, evaluation, checkpoint writes)."""

from __future__ import annotations

import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from ..attention import SDPA_KERNELS
from ..scoring import classification_metrics  # noqa: F401 (the loop scores with it from here)

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


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def timing_split(process_started: float, loop_started: float, training: float, seconds: dict) -> dict:
    """This process's wall time split into start-up (interpreter, imports, model, data and masks,
    up to the first step), training steps, evaluation, checkpoint writes and the model save; what
    is left (``unaccounted``) is the bookkeeping between them. Writing metrics.json, deleting the
    checkpoints and logging to MLflow come after and are not in ``total``."""
    total = time.time() - process_started
    parts = {"startup": loop_started - process_started, "training": training, **seconds}
    return {**parts, "total": total, "unaccounted": total - sum(parts.values())}


class Stopwatch:
    """Where this process's wall time goes besides training (a resumed run counts this process only)."""

    def __init__(self):
        self.seconds = {"evaluation": 0.0, "checkpoint": 0.0, "model_save": 0.0}

    def timed(self, part: str, function, *args):
        started = time.perf_counter()
        result = function(*args)
        self.seconds[part] += time.perf_counter() - started
        return result


def environment(device, claim) -> dict:
    """Where the job ran and with what."""
    import transformers

    return {
        "peak_memory_mb": peak_memory_mb(device),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        **claim.describe(),  # device_claim, gpu_slots, jobs_per_gpu
        "sdpa_kernels": dict(SDPA_KERNELS),  # the kernel of each kind of sdpa call (attention.SDPA_KERNELS)
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "numpy": np.__version__},
    }
