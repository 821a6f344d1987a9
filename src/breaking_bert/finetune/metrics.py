"""What a job reports beside its score: classification metrics, peak memory, and where its wall
time went (start-up from the process's start, training, evaluation, checkpoint writes)."""

from __future__ import annotations

import math
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch


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
