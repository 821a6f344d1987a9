"""Give each concurrently running GPU job its own slot on a GPU: one job per device, or
``training.jobs_per_gpu`` = K jobs sharing each device (a small model leaves most of a large GPU
idle, docs/BENCHMARKS.md).

Snakemake's ``--resources gpu=N`` only limits how many GPU jobs run at once; it assigns no device.
Locally each job therefore claims a free (device, slot) pair with an exclusive ``flock`` on
``<lock_dir>/gpu<d>.slot<s>.lock`` and holds it for its lifetime (the kernel drops the lock if the
job dies, so a crash frees its slot). With D devices and K slots each, ``--resources gpu=D*K`` runs
D*K jobs, never more than K on a device. Slots fill breadth-first (slot 0 of every device before
slot 1), so fewer jobs than slots spread over the devices. A job that times kernels claims every
slot of one device (``exclusive``): a shared device would time its neighbours too.
Under SLURM, or whenever ``CUDA_VISIBLE_DEVICES`` was set by a scheduler, the job uses what it was
given: ``cuda:0`` of its visible devices (sharing a GPU there is the cluster's: README, "SLURM").
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

GPU_SLOTS = "results/.gpu_slots"  # the lock files of a local run's GPU jobs (finetune, learned, timing)


@dataclass
class DeviceClaim:
    device: str  # "cpu" or "cuda:<i>"
    how: str  # "cpu" | "scheduler" | "lock"
    slots: tuple[int, ...] = ()  # the slots of its device it holds (lock): one, or all of them (exclusive)
    jobs_per_gpu: int = 1
    _lock_files: list = field(default_factory=list, repr=False)

    def release(self) -> None:
        _unlock(self._lock_files)
        self._lock_files = []

    def describe(self) -> dict:
        """What metrics.json records of the claim."""
        return {"device_claim": self.how, "gpu_slots": list(self.slots), "jobs_per_gpu": self.jobs_per_gpu}


def visible_gpu_count() -> int:
    """GPUs this process can use; BREAKING_BERT_GPU_COUNT simulates a count (tests, dry runs)."""
    simulated = os.environ.get("BREAKING_BERT_GPU_COUNT")
    if simulated is not None:
        return int(simulated)
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _try_lock(path: Path):
    """The open, exclusively locked file, or None when another process holds it."""
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _unlock(handles) -> None:
    for handle in handles:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _free_slot(lock_dir: Path, count: int, jobs_per_gpu: int, exclusive: bool) -> DeviceClaim | None:
    if exclusive:
        for device in range(count):
            held = []
            for slot in range(jobs_per_gpu):
                handle = _try_lock(lock_dir / f"gpu{device}.slot{slot}.lock")
                if handle is None:
                    break
                held.append(handle)
            if len(held) == jobs_per_gpu:
                return DeviceClaim(f"cuda:{device}", "lock", tuple(range(jobs_per_gpu)), jobs_per_gpu, held)
            _unlock(held)  # part of this device is taken: try the next
        return None
    for slot in range(jobs_per_gpu):
        for device in range(count):
            handle = _try_lock(lock_dir / f"gpu{device}.slot{slot}.lock")
            if handle is not None:
                return DeviceClaim(f"cuda:{device}", "lock", (slot,), jobs_per_gpu, [handle])
    return None


def claim_gpu_slot(count: int, lock_dir: str | Path, jobs_per_gpu: int = 1, exclusive: bool = False,
                   timeout_s: float = 3600.0, poll_s: float = 0.5) -> DeviceClaim:
    """A free slot of ``count`` devices x ``jobs_per_gpu`` slots (``exclusive``: all slots of one
    device); waits while none is free."""
    if jobs_per_gpu < 1:
        raise ValueError(f"training.jobs_per_gpu is {jobs_per_gpu}: at least 1")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while (claim := _free_slot(lock_dir, count, jobs_per_gpu, exclusive)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no free GPU slot among {count} x {jobs_per_gpu} in {lock_dir} after {timeout_s:.0f}s")
        time.sleep(poll_s)
    return claim


def claim_device(preference: str, lock_dir: str | Path, jobs_per_gpu: int = 1, exclusive: bool = False) -> DeviceClaim:
    """preference: "auto" (a GPU when there is one), "cpu", or "cuda"."""
    if preference == "cpu":
        return DeviceClaim("cpu", "cpu", jobs_per_gpu=jobs_per_gpu)
    count = visible_gpu_count()
    if count == 0:
        if preference == "cuda":
            raise RuntimeError("training.device is 'cuda' but no GPU is visible")
        return DeviceClaim("cpu", "cpu", jobs_per_gpu=jobs_per_gpu)
    if os.environ.get("SLURM_JOB_ID") and os.environ.get("CUDA_VISIBLE_DEVICES"):
        return DeviceClaim("cuda:0", "scheduler", jobs_per_gpu=jobs_per_gpu)
    return claim_gpu_slot(count, lock_dir, jobs_per_gpu, exclusive)
