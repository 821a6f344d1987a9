"""Checkpoints (safetensors + JSON, no pickle) that carry the run's identity, where a job resumes from,
and the job's results written atomically, after which its checkpoints go.

Checkpoints are scratch: each carries the run's identity (identity.py), a job resumes only from
one with the same identity, and ``write_results`` deletes them once the job's results are written.
"""

from __future__ import annotations

import json
import signal
import os
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..identity import differences, fingerprint


def _flatten_optimizer(optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, param_state in state["state"].items():
        for key, value in param_state.items():
            if torch.is_tensor(value):
                tensors[f"{param_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{param_id}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in list(tensors.items()) + list(meta["scalars"].items()):
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(directory: Path, model, optimizer, scheduler, progress: dict, identity: dict) -> None:
    """checkpoint-<step>/ with state.json written last, so a half-written checkpoint is never used;
    state.json carries the run's identity, so only the same run resumes from it."""
    target = directory / f"checkpoint-{progress['global_step']:08d}"
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    optimizer_tensors, optimizer_meta = _flatten_optimizer(optimizer)
    rng = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["torch_cuda"] = torch.cuda.get_rng_state()
    save_file(optimizer_tensors, tmp / "optimizer.safetensors")
    save_file(rng, tmp / "rng.safetensors")
    state = {**progress, "optimizer": optimizer_meta, "scheduler": scheduler.state_dict(),
             "identity": identity, "fingerprint": fingerprint(identity)}
    (tmp / "state.json").write_text(json.dumps(state))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    for old in directory.glob("checkpoint-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(directory: Path) -> Path | None:
    done = sorted(p for p in directory.glob("checkpoint-*") if (p / "state.json").exists() and p.suffix != ".tmp")
    return done[-1] if done else None


def checkpoint_identity(path: Path) -> dict:
    return json.loads((path / "state.json").read_text()).get("identity", {})


def remove_checkpoints(directory: str | Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def load_checkpoint(path: Path, model, optimizer, scheduler, device) -> dict:
    model.load_state_dict(load_file(path / "model.safetensors", device=str(device)))
    state = json.loads((path / "state.json").read_text())
    optimizer.load_state_dict(_unflatten_optimizer(load_file(path / "optimizer.safetensors"), state["optimizer"]))
    scheduler.load_state_dict(state["scheduler"])
    rng = load_file(path / "rng.safetensors")
    torch.set_rng_state(rng["torch_cpu"])
    if "torch_cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["torch_cuda"])
    return state


def write_results(metrics: dict, metrics_path: str | Path, checkpoint_dir: str | Path) -> None:
    """The job's metrics.json, then its checkpoints go: a finished run leaves no state to resume
    from (a rerun trains anew) and no model-sized files on disk."""
    write_json_atomically(metrics, metrics_path)
    remove_checkpoints(checkpoint_dir)


def write_json_atomically(payload: dict, path: str | Path) -> None:
    """Write to a sibling temp file then rename, so a crash never leaves a partial file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(payload, indent=2, default=str))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class SigtermFlag:
    """While active, SIGTERM sets ``requested`` instead of killing: the loop checkpoints and stops."""

    def __enter__(self):
        self.requested = False
        self.previous = signal.signal(signal.SIGTERM, self._request)
        return self

    def _request(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self.previous)


def resume(checkpoint_dir: Path, identity: dict, model, optimizer, scheduler, device) -> tuple[dict, Path | None]:
    """The progress to start from: the latest checkpoint's, when the same run made it (else it is
    discarded), or a fresh start; with the checkpoint resumed from."""
    progress = {"epoch": 0, "batch": 0, "global_step": 0, "history": [], "train_seconds": 0.0, "train_samples": 0}
    resumed_from = latest_checkpoint(checkpoint_dir)
    changed = differences(checkpoint_identity(resumed_from), identity) if resumed_from is not None else []
    if changed:
        print(f"discarding checkpoint {resumed_from}: made by a different run ({'; '.join(changed)})", file=sys.stderr)
        remove_checkpoints(checkpoint_dir)
        resumed_from = None
    if resumed_from is not None:
        saved = load_checkpoint(resumed_from, model, optimizer, scheduler, device)
        progress = {k: saved.get(k, progress[k]) for k in progress}
        print(f"resumed from {resumed_from} (epoch {progress['epoch']}, batch {progress['batch']})", file=sys.stderr)
    return progress, resumed_from
