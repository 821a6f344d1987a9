"""Give each concurrently running finetune job its own GPU.

Snakemake's ``--resources gpu=4`` only limits how many GPU jobs run at once; it assigns no device.
Locally each job therefore claims a free slot with an exclusive ``flock`` on ``<lock_dir>/gpu<i>.lock``
and holds it for its lifetime (the kernel drops the lock if the job dies, so a crash frees its slot).
Under SLURM, or whenever ``CUDA_VISIBLE_DEVICES`` was set by a scheduler, the job uses what it was
given: ``cuda:0`` of its visible devices.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

GPU_SLOTS = "results/.gpu_slots"  # the lock files of a local run's GPU jobs (finetune, learned, timing)


@dataclass
class DeviceClaim:
    device: str  # "cpu" or "cuda:<i>"
    how: str  # "cpu" | "scheduler" | "lock"
    _lock_file: object = None

    def release(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None


def visible_gpu_count() -> int:
    """GPUs this process can use; BREAKING_BERT_GPU_COUNT simulates a count (tests, dry runs)."""
    simulated = os.environ.get("BREAKING_BERT_GPU_COUNT")
    if simulated is not None:
        return int(simulated)
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def claim_gpu_slot(count: int, lock_dir: str | Path, timeout_s: float = 3600.0, poll_s: float = 0.5) -> DeviceClaim:
    """Exclusive lock on the first free of ``count`` slots; waits while all are taken."""
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while True:
        for slot in range(count):
            handle = open(lock_dir / f"gpu{slot}.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            return DeviceClaim(device=f"cuda:{slot}", how="lock", _lock_file=handle)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no free GPU slot among {count} in {lock_dir} after {timeout_s:.0f}s")
        time.sleep(poll_s)


def claim_device(preference: str, lock_dir: str | Path) -> DeviceClaim:
    """preference: "auto" (a GPU when there is one), "cpu", or "cuda"."""
    if preference == "cpu":
        return DeviceClaim("cpu", "cpu")
    count = visible_gpu_count()
    if count == 0:
        if preference == "cuda":
            raise RuntimeError("training.device is 'cuda' but no GPU is visible")
        return DeviceClaim("cpu", "cpu")
    if os.environ.get("SLURM_JOB_ID") and os.environ.get("CUDA_VISIBLE_DEVICES"):
        return DeviceClaim("cuda:0", "scheduler")
    return claim_gpu_slot(count, lock_dir)
