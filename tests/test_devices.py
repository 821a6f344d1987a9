"""Concurrent jobs each get their own GPU slot (simulated device count; real file locks and processes)."""

import multiprocessing
import os
import time

from breaking_bert.devices import claim_device, claim_gpu_slot


def _hold_slot(lock_dir, count, results):
    claim = claim_gpu_slot(count, lock_dir, timeout_s=30, poll_s=0.05)
    results.append((os.getpid(), claim.device))
    time.sleep(1.0)  # overlap with the other jobs
    claim.release()


def test_concurrent_jobs_get_distinct_gpus(tmp_path):
    with multiprocessing.Manager() as manager:
        results = manager.list()
        jobs = [multiprocessing.Process(target=_hold_slot, args=(tmp_path, 4, results)) for _ in range(4)]
        for job in jobs:
            job.start()
        for job in jobs:
            job.join(timeout=60)
        devices = sorted(device for _, device in results)
    assert devices == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]


def _claim_device_name(lock_dir, count):
    claim = claim_gpu_slot(count, lock_dir, timeout_s=30, poll_s=0.05)
    claimed_at = time.time()
    claim.release()
    return claim.device, claimed_at


def test_a_fifth_job_waits_for_a_free_slot(tmp_path):
    held = [claim_gpu_slot(2, tmp_path) for _ in range(2)]
    assert {c.device for c in held} == {"cuda:0", "cuda:1"}
    with multiprocessing.Pool(1) as pool:
        waiting = pool.apply_async(_claim_device_name, (str(tmp_path), 2))
        time.sleep(0.5)
        assert not waiting.ready(), "no slot was free, yet the job got one"
        released_at = time.time()
        held[1].release()
        device, claimed_at = waiting.get(timeout=30)
    assert device == "cuda:1", "it takes the slot that was freed"
    assert claimed_at >= released_at, "it got its slot only after the release"
    held[0].release()


def test_scheduler_assigned_gpus_are_used_as_given(tmp_path, monkeypatch):
    monkeypatch.setenv("BREAKING_BERT_GPU_COUNT", "1")
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    claim = claim_device("auto", tmp_path)
    assert claim.device == "cuda:0" and claim.how == "scheduler"
    monkeypatch.setenv("BREAKING_BERT_GPU_COUNT", "0")
    assert claim_device("auto", tmp_path).device == "cpu"
