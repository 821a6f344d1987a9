"""Concurrent jobs each get their own GPU slot (simulated device count; real file locks and processes)."""

import multiprocessing
import os
import time

import pytest

from breaking_bert.resources.devices import claim_device, claim_gpu_slot


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


def _hold_shared_slot(lock_dir, count, jobs_per_gpu, hold_s, results):
    claim = claim_gpu_slot(count, lock_dir, jobs_per_gpu, timeout_s=60, poll_s=0.02)
    got = time.monotonic()
    time.sleep(hold_s)
    results.append((claim.device, claim.slots, got, time.monotonic()))
    claim.release()


def test_k_jobs_per_device_get_distinct_slots_and_never_more_than_k_on_a_device(tmp_path):
    """10 processes on 2 devices x 3 slots: 6 hold a slot at once, each pair (device, slot) held by
    one process at a time, and no device ever has more than 3 holders."""
    with multiprocessing.Manager() as manager:
        results = manager.list()
        jobs = [multiprocessing.Process(target=_hold_shared_slot, args=(tmp_path, 2, 3, 2.0, results)) for _ in range(10)]
        for job in jobs:
            job.start()
        for job in jobs:
            job.join(timeout=120)
        held = list(results)
    assert len(held) == 10
    for i, (device, slots, got, left) in enumerate(held):
        assert device in ("cuda:0", "cuda:1") and len(slots) == 1 and 0 <= slots[0] < 3
        for other_device, other_slots, other_got, other_left in held[i + 1:]:
            if (other_device, other_slots) == (device, slots):
                assert other_left < got or left < other_got, "a (device, slot) pair held twice at once"
        # the holders at the moment this one got its slot (every holder's interval starts at a claim)
        now = [d for d, _, g, l in held if g <= got < l]
        for name in ("cuda:0", "cuda:1"):
            assert now.count(name) <= 3, f"more than 3 jobs on {name} at once: {now}"
    first_wave = sorted(held, key=lambda h: h[2])[:6]
    assert sorted((d, s[0]) for d, s, _, _ in first_wave) == [(f"cuda:{d}", s) for d in range(2) for s in range(3)]


def test_fewer_jobs_than_slots_spread_over_the_devices(tmp_path):
    held = [claim_gpu_slot(3, tmp_path, jobs_per_gpu=4) for _ in range(3)]
    assert sorted(c.device for c in held) == ["cuda:0", "cuda:1", "cuda:2"] and {c.slots for c in held} == {(0,)}
    for claim in held:
        claim.release()


def _claim_and_die(lock_dir):
    claim_gpu_slot(1, lock_dir, jobs_per_gpu=2, timeout_s=10)
    claim_gpu_slot(1, lock_dir, jobs_per_gpu=2, timeout_s=10)
    os._exit(3)  # killed without releasing: no cleanup runs


def test_a_crashed_claimants_slots_are_freed(tmp_path):
    crashed = multiprocessing.Process(target=_claim_and_die, args=(tmp_path,))
    crashed.start()
    crashed.join(timeout=60)
    assert crashed.exitcode == 3
    claims = [claim_gpu_slot(1, tmp_path, jobs_per_gpu=2, timeout_s=2, poll_s=0.05) for _ in range(2)]
    assert sorted(c.slots for c in claims) == [(0,), (1,)], "both slots the dead process held are free again"
    for claim in claims:
        claim.release()


def test_an_exclusive_claim_takes_a_whole_device_and_waits_for_one(tmp_path):
    """Kernel timing: every slot of one device, and only a device no job shares."""
    shared = claim_gpu_slot(2, tmp_path, jobs_per_gpu=2)  # slot 0 of cuda:0
    timing = claim_gpu_slot(2, tmp_path, jobs_per_gpu=2, exclusive=True)
    assert timing.device == "cuda:1" and timing.slots == (0, 1)
    with pytest.raises(TimeoutError, match="no free GPU slot among 2 x 2"):
        claim_gpu_slot(2, tmp_path, jobs_per_gpu=2, exclusive=True, timeout_s=0.3, poll_s=0.05)
    other = claim_gpu_slot(2, tmp_path, jobs_per_gpu=2, timeout_s=0.3)
    assert (other.device, other.slots) == ("cuda:0", (1,)), "cuda:0's other slot"
    for claim in (shared, timing, other):
        claim.release()
    with pytest.raises(ValueError, match="jobs_per_gpu is 0"):
        claim_gpu_slot(2, tmp_path, jobs_per_gpu=0)
