"""One MLflow run per job attempt (``TrackedRun``), and runs logged after the fact: a run whose
logging failed leaves a pending marker that ``breaking-bert-sync-tracking`` logs later."""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..identity import flatten
from .store import sqlite_path
from .workflow_run import init_tracking, resolved

PENDING = "tracking_pending.json"

# Numbers in metrics.json that describe a run rather than measure it: params, not metrics (the
# training settings are the config's values: MLflow users read them as params only)
SETTINGS = ("seed", "num_layers", "train_examples", "eval_examples", "resumed", "jobs_per_gpu", "last_layer")
SETTING_SECTIONS = ("training.", "mask_degrees.")


def _flatten(values: dict) -> dict:
    """identity.flatten, with lists as JSON (MLflow params and tags are strings)."""
    return {key: json.dumps(value) if isinstance(value, list | tuple) else value for key, value in flatten(values).items()}


def code_version() -> dict:
    """The git commit of the checkout whose library runs, and whether it has uncommitted changes."""
    checkout = Path(__file__).resolve().parents[3]  # src/breaking_bert/tracking/runs.py
    try:
        commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "none (not a git checkout)", "git_dirty": "unknown"}
    return {"git_commit": commit, "mlflow.source.git.commit": commit, "git_dirty": str(dirty).lower()}


def split_results(metrics: dict) -> tuple[dict, dict]:
    """metrics.json as (params, metrics): measurements are metrics, what describes the run a param."""
    # the history is logged epoch by epoch; the per-example predictions are in metrics.json, an artifact
    flat = _flatten({k: v for k, v in metrics.items() if k not in ("history", "identity", "eval_predictions", "eval_labels")})
    measured = {k: float(v) for k, v in flat.items()
                if isinstance(v, int | float) and not isinstance(v, bool) and k not in SETTINGS
                and not k.startswith(SETTING_SECTIONS) and v == v}
    described = {f"result.{k}": str(v)[:6000] for k, v in flat.items() if k not in measured}
    return described, measured


def epoch_metrics(entry: dict) -> dict:
    """One evaluation of metrics.json's history as the run's metrics: eval_<name> and the epoch."""
    return {**{f"eval_{k}": v for k, v in entry.items() if k not in ("epoch", "step")}, "epoch": entry["epoch"]}


def dataset_inputs(files: dict, task: str) -> list:
    """A job's token files as MLflow dataset inputs (``log_inputs``): named for the task and split,
    their source the file, their digest its content's (the run's identity holds the same SHA-256,
    whole), tagged with the context they were used in ("training", "evaluation")."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    from ..identity import file_digest

    inputs = []
    for context, path in files.items():
        split = Path(path).stem  # results/tokens/<task>/train.parquet -> train
        dataset = Dataset(name=f"{task}/{split}", digest=file_digest(path)[:32], source_type="local",
                          source=json.dumps({"uri": Path(path).resolve().as_uri()}))
        inputs.append(DatasetInput(dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]))
    return inputs


def _now_ms() -> int:
    return int(time.time() * 1000)


class _InOrder:
    """One daemon thread running the calls handed to it, one after another, in the order given,
    from ``start`` on (calls handed in before wait for it)."""

    def __init__(self):
        self._calls = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="mlflow-logging", daemon=True)

    def submit(self, call, *args) -> None:
        self._calls.put((call, args))

    def start(self) -> None:
        if self._thread.ident is None:  # not started yet
            self._thread.start()

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            call, args = item
            call(*args)

    def close(self) -> None:
        """Run every call handed in so far, and wait for them."""
        self._calls.put(None)
        self.start()
        self._thread.join()


class TrackedRun:
    """One job attempt's MLflow run. Dated from the job's start; step and epoch metrics as they come;
    closed when the job ends (FINISHED, or FAILED / KILLED when it stops). No method raises: the
    first tracking error is kept, logging stops, and ``finish`` leaves the pending marker.

    ``background``: MLflow's calls run on a thread of their own, in order, each stamped with the
    time the job made it, and the thread starts with the first metrics the job logs (its training
    has begun): importing MLflow (~1 s) and the store's queries are then off the way to the first
    training step, and do not share the interpreter with the model's loading (the workflow's jobs;
    docs/BENCHMARKS.md, "startup"). ``finish`` and ``stop`` run what is left and wait for it."""

    def __init__(self, tracking: dict, run_dir, run_name: str, params: dict, started_ms: int | None = None,
                 logged_later: bool = False, background: bool = False, datasets: dict | None = None):
        self.tracking, self.run_dir, self.run_name, self.params = tracking, Path(run_dir), run_name, params
        self.datasets = datasets or {}  # {"training": train tokens file, "evaluation": ...}
        self.log_every_steps = int(tracking["log_every_steps"])  # the config's (workflow_run.job_tracking)
        self.started_ms = started_ms or _now_ms()
        self.client = self.run_id = self.error = None
        self._worker = _InOrder() if background else None
        self._attempt(self._open, {"logged_later": "true"} if logged_later else {})

    def _attempt(self, action, *args) -> None:
        if self._worker is not None:
            self._worker.submit(self._guarded, action, *args)
        else:
            self._guarded(action, *args)

    def _guarded(self, action, *args) -> None:
        if self.error is not None:
            return
        try:
            action(*args)
        except Exception as error:  # tracking must never lose a result
            self.error = error
            print(f"MLflow logging failed ({error}); the job goes on without it", file=sys.stderr)

    def _wait(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def _open(self, tags: dict) -> None:
        import mlflow

        self.tracking = resolved(self.tracking)  # the config's experiment and workflow run, opened once
        self.client = mlflow.MlflowClient(tracking_uri=self.tracking["uri"])
        # nested under the config's workflow run
        parent = {"mlflow.parentRunId": self.tracking["parent_run_id"]} if self.tracking.get("parent_run_id") else {}
        run = self.client.create_run(self.tracking["experiment_id"], start_time=self.started_ms, run_name=self.run_name,
                                     tags={"run_key": self.run_name, **code_version(), **parent, **tags})
        self.run_id = run.info.run_id
        params = {k: str(v)[:6000] for k, v in _flatten(self.params).items()}
        self.client.log_batch(self.run_id, params=[mlflow.entities.Param(k, v) for k, v in params.items()])
        if self.datasets:
            self.client.log_inputs(self.run_id, datasets=dataset_inputs(self.datasets, self.params.get("task", "")))

    def log_metrics(self, step: int, values: dict) -> None:
        """Metrics at an optimizer step, stamped now (the loop calls this)."""
        self._attempt(self._log_metrics, step, values, _now_ms())
        if self._worker is not None:
            self._worker.start()

    def log_epoch(self, entry: dict) -> None:
        """An evaluation as the loop records it in the history ({"epoch", "step", metrics...})."""
        self.log_metrics(entry["step"], epoch_metrics(entry))

    def _log_metrics(self, step: int, values: dict, timestamp: int) -> None:
        from mlflow.entities import Metric

        entities = [Metric(k, float(v), timestamp, int(step)) for k, v in values.items() if isinstance(v, int | float)]
        self.client.log_batch(self.run_id, metrics=entities)

    def finish(self, metrics: dict) -> bool:
        """Final measurements, results as params, the fingerprint, the files; or the pending marker."""
        self._attempt(self._finish, metrics, _now_ms())
        self._wait()
        if self.error is None:
            (self.run_dir / PENDING).unlink(missing_ok=True)
            return True
        _leave_pending(self.run_dir, self.tracking, self.run_name, self.params, self.started_ms, _now_ms(), self.error,
                       self.datasets)
        return False

    def _finish(self, metrics: dict, ended_ms: int) -> None:
        import mlflow

        described, measured = split_results(metrics)
        self.client.log_batch(self.run_id, params=[mlflow.entities.Param(k, v) for k, v in described.items()])
        last_step = metrics["history"][-1]["step"] if metrics.get("history") else 0
        self._log_metrics(last_step, measured, ended_ms)
        self.client.set_tag(self.run_id, "fingerprint", str(metrics.get("fingerprint")))
        for file in sorted(self.run_dir.glob("*")):
            if file.is_file() and file.name != PENDING and not file.name.startswith("."):
                self.client.log_artifact(self.run_id, str(file))
        self.client.set_terminated(self.run_id, "FINISHED", end_time=ended_ms)

    def stop(self, status: str) -> None:
        """The job ends without a result (FAILED) or is preempted (KILLED): close the run so."""
        self._attempt(self._terminate, status, _now_ms())
        self._wait()

    def _terminate(self, status: str, ended_ms: int) -> None:
        if self.run_id is not None:  # None: the run could not be opened
            self.client.set_terminated(self.run_id, status, end_time=ended_ms)


def log_run(tracking: dict, run_dir: str | Path, run_name: str, params: dict, metrics: dict,
            started_ms: int | None = None, ended_ms: int | None = None, datasets: dict | None = None) -> str:
    """One finished run logged after the fact (a pending marker's), with the job's own start and end
    times. Idempotent: a run whose ``run_key`` and ``fingerprint`` tags are already in the experiment
    as FINISHED is not logged twice."""
    import mlflow

    tracking = resolved(tracking)
    client = mlflow.MlflowClient(tracking_uri=tracking["uri"])
    tags = {"run_key": run_name, "fingerprint": str(metrics.get("fingerprint"))}
    existing = client.search_runs(
        [tracking["experiment_id"]],
        filter_string=" and ".join(f"tags.{key} = '{value}'" for key, value in tags.items())
        + " and attributes.status = 'FINISHED'",
        max_results=1,
    )
    if existing:
        return existing[0].info.run_id
    ended_ms = ended_ms or _now_ms()
    run = TrackedRun(tracking, run_dir, run_name, params, started_ms=started_ms or ended_ms, logged_later=True,
                     datasets=datasets)
    if run.error is not None:
        raise run.error
    for entry in metrics.get("history", []):  # the epochs' own times are not kept: stamped at the job's end
        run._log_metrics(entry["step"], epoch_metrics(entry), ended_ms)
    run._finish(metrics, ended_ms)
    return run.run_id


def log_run_or_leave_pending(tracking: dict, run_dir, run_name: str, params: dict, metrics: dict,
                             started_ms: int | None = None, ended_ms: int | None = None,
                             datasets: dict | None = None) -> bool:
    """Log a finished run after the fact; on any failure leave the pending marker and return False."""
    try:
        log_run(tracking, run_dir, run_name, params, metrics, started_ms, ended_ms, datasets)
    except Exception as error:  # tracking must never lose a finished result
        print(f"MLflow logging failed ({error})", file=sys.stderr)
        _leave_pending(Path(run_dir), tracking, run_name, params, started_ms, ended_ms, error, datasets)
        return False
    (Path(run_dir) / PENDING).unlink(missing_ok=True)
    return True


def _leave_pending(run_dir: Path, tracking: dict, run_name: str, params: dict, started_ms, ended_ms, error,
                   datasets: dict | None = None) -> None:
    """The marker from which ``sync_pending`` logs the run later: what logging it needs, and why it failed."""
    payload = {"tracking": tracking, "run_name": run_name, "params": params, "started_ms": started_ms,
               "ended_ms": ended_ms, "error": str(error), "datasets": {k: str(v) for k, v in (datasets or {}).items()}}
    (run_dir / PENDING).write_text(json.dumps(payload, default=str))
    print(f"left {run_dir / PENDING} for breaking-bert-sync-tracking", file=sys.stderr)


def sync_pending(results_dir: str | Path, uri: str | None = None) -> tuple[int, int]:
    """Log every run that left a pending marker; returns (logged, still pending)."""
    logged = failed = 0
    for marker in sorted(Path(results_dir).rglob(PENDING)):
        payload = json.loads(marker.read_text())
        tracking = dict(payload["tracking"])
        if uri:
            # a sqlite store keeps the project's artifact root; a server its own (store.workflow_artifact_location)
            location = tracking.get("artifact_location") if sqlite_path(uri) is not None else None
            tracking = init_tracking(uri, tracking["experiment_name"], location,
                                     results_name=tracking.get("results_name"), project=tracking.get("project"))
        metrics = json.loads((marker.parent / "metrics.json").read_text())
        datasets = {k: v for k, v in payload.get("datasets", {}).items() if Path(v).exists()}
        if log_run_or_leave_pending(tracking, marker.parent, payload["run_name"], payload["params"], metrics,
                                    payload.get("started_ms"), payload.get("ended_ms"), datasets):
            logged += 1
        else:
            failed += 1
    return logged, failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Log finetune runs whose MLflow logging failed.")
    parser.add_argument("results_dir", nargs="?", default="results")
    parser.add_argument("--tracking-uri", help="log to this store instead of the one each run recorded")
    args = parser.parse_args(argv)
    logged, failed = sync_pending(args.results_dir, args.tracking_uri)
    print(f"logged {logged} pending run(s); {failed} still pending")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
