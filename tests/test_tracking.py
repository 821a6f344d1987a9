"""MLflow tracking against a real embedded store: live runs, params, metrics, artifacts, a store
that cannot be opened, a moved project, and a down server."""

import json
import re
import shutil
import socket
import threading
import time

import mlflow
import pytest

from breaking_bert.tracking import (
    PENDING,
    TrackedRun,
    TrackingError,
    WORKFLOW_TAG,
    code_version,
    init_tracking,
    log_run,
    log_run_or_leave_pending,
    sync_pending,
)

METRICS = {"score": 0.8, "eval_accuracy": 0.8, "training": {"epochs": 2, "learning_rate": 1e-4}, "jobs_per_gpu": 1,
           "timing": {"total": 12.5}, "history": [{"epoch": 1, "step": 5, "accuracy": 0.7},
                                                          {"epoch": 2, "step": 10, "accuracy": 0.8}]}
PARAMS = {"task": "t", "pattern": "nb", "placement": "late", "seed": 0, "training": {"epochs": 2}}


def _run_dir(tmp_path, name="run"):
    directory = tmp_path / name
    directory.mkdir()
    (directory / "metrics.json").write_text(json.dumps(METRICS))
    (directory / "config.json").write_text(json.dumps(PARAMS))
    return directory


def test_init_then_log_one_run_with_params_metrics_and_artifacts(tmp_path):
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    tracking = init_tracking(uri, "exp", str(tmp_path / "artifacts"))
    assert init_tracking(uri, "exp")["experiment_id"] == tracking["experiment_id"], "found, not recreated"
    run_id = log_run(tracking, _run_dir(tmp_path), "t/nb/late/seed0", PARAMS, METRICS)
    assert log_run(tracking, tmp_path / "run", "t/nb/late/seed0", PARAMS, METRICS) == run_id, "idempotent"
    client = mlflow.MlflowClient(tracking_uri=uri)
    everything = client.search_runs([tracking["experiment_id"]])
    workflow = [r for r in everything if WORKFLOW_TAG in r.data.tags]
    runs = [r for r in everything if WORKFLOW_TAG not in r.data.tags]
    assert len(workflow) == 1 and workflow[0].info.run_id == tracking["parent_run_id"], "one parent, found again"
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["mlflow.parentRunId"] == tracking["parent_run_id"], "nested under the workflow's run"
    assert run.data.params["training.epochs"] == "2" and run.data.params["placement"] == "late"
    assert run.data.metrics["score"] == 0.8 and run.data.metrics["timing.total"] == 12.5
    # a config value is a param only (metrics.json repeats the training settings the job ran with)
    assert not {"training.epochs", "training.learning_rate", "jobs_per_gpu"} & set(run.data.metrics)
    assert run.data.params["result.training.learning_rate"] == "0.0001"
    history = client.get_metric_history(run_id, "eval_accuracy")
    assert [(m.step, m.value) for m in history] == [(5, 0.7), (10, 0.8)]
    assert {a.path for a in client.list_artifacts(run_id)} == {"config.json", "metrics.json"}


def _logging_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name == "mlflow-logging"]


@pytest.mark.parametrize("background", [False, True], ids=["in_the_job", "on_a_thread"])
def test_a_live_run_opens_at_the_start_logs_as_it_goes_and_closes_at_the_end(tmp_path, background):
    """What a job's run holds, read back through MlflowClient: its real duration, step metrics with
    their own timestamps and steps, every config value as a param, the settings not as metrics.
    On a thread (the workflow's jobs), the same run, each value stamped when the job logged it; the
    thread starts with the first metrics (not before the job's first step) and is gone once the run
    is finished."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracking = init_tracking(uri, "exp", str(tmp_path / "artifacts"), log_every_steps=2)
    run_dir = _run_dir(tmp_path)
    started = time.time() * 1000
    run = TrackedRun(tracking, run_dir, "t/nb/late/seed0", PARAMS, background=background)
    constructed = time.time() * 1000
    if background:  # nothing done yet: the thread starts with the first metrics the job logs
        assert _logging_threads() == [] and run.run_id is None
    called = []
    for step in (2, 4):
        time.sleep(0.05)
        before = time.time() * 1000
        run.log_metrics(step, {"train_loss": 1.0 / step})
        called.append((before, time.time() * 1000))
        assert len(_logging_threads()) == background
    time.sleep(0.05)
    assert run.finish({**METRICS, "seed": 0, "num_layers": 4, "fingerprint": "abc"}) is True
    assert _logging_threads() == []
    client = mlflow.MlflowClient(tracking_uri=uri)
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED" and logged.info.end_time - logged.info.start_time >= 150
    assert int(started) <= logged.info.start_time <= constructed, "the job's start, not the thread's"
    losses = client.get_metric_history(run.run_id, "train_loss")
    assert [m.step for m in losses] == [2, 4] and losses[0].timestamp < losses[1].timestamp
    assert all(int(before) <= m.timestamp <= after for m, (before, after) in zip(losses, called)), (losses, called)
    assert logged.data.params["seed"] == "0" and logged.data.params["result.num_layers"] == "4"
    assert "seed" not in logged.data.metrics and "num_layers" not in logged.data.metrics
    assert logged.data.tags["fingerprint"] == "abc" and "git_commit" in logged.data.tags


@pytest.mark.parametrize("background", [False, True], ids=["in_the_job", "on_a_thread"])
def test_a_failed_or_preempted_job_closes_its_run_so(tmp_path, background):
    """Stopped at once (a job failing before its first step): on a thread, the stop waits for the
    run to be opened, then closes it."""
    tracking = init_tracking(f"sqlite:///{tmp_path}/mlflow.db", "exp")
    run = TrackedRun(tracking, _run_dir(tmp_path), "t/nb/late/seed0", PARAMS, background=background)
    run.stop("KILLED")
    assert _logging_threads() == []
    assert mlflow.MlflowClient(tracking_uri=tracking["uri"]).get_run(run.run_id).info.status == "KILLED"


def test_the_code_version_is_this_checkouts_commit():
    version = code_version()
    assert re.fullmatch(r"[0-9a-f]{40}", version["git_commit"]), version
    assert version["git_dirty"] in ("true", "false")


@pytest.mark.parametrize("where", ["under_a_file", "a_folder"])
def test_a_store_that_cannot_be_opened_fails_at_once_naming_the_key_and_path(tmp_path, where):
    (tmp_path / "plain").write_text("")
    (tmp_path / "mlflow.db").mkdir()
    uri = f"sqlite:///{tmp_path}/plain/store/mlflow.db" if where == "under_a_file" else f"sqlite:///{tmp_path}/mlflow.db"
    started = time.monotonic()
    with pytest.raises(TrackingError, match=r"tracking.uri='sqlite:///.*': the store .*mlflow.db cannot be opened"):
        init_tracking(uri, "exp")
    assert time.monotonic() - started < 10


def test_a_copied_store_and_a_moved_project_still_find_their_artifacts(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    tracking = init_tracking("sqlite:///results/mlflow/mlflow.db", "exp", "results/mlflow/artifacts")
    run_id = log_run(tracking, _run_dir(project), "t/nb/late/seed0", PARAMS, METRICS)
    moved = tmp_path / "elsewhere"
    shutil.move(project, moved)
    monkeypatch.chdir(moved)
    client = mlflow.MlflowClient(tracking_uri="sqlite:///results/mlflow/mlflow.db")
    downloaded = client.download_artifacts(run_id, "metrics.json", str(tmp_path))
    assert json.loads(open(downloaded).read()) == METRICS


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_down_server_leaves_pending_and_sync_logs_it_later(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = {"uri": f"http://127.0.0.1:{_closed_port()}", "experiment_name": "exp", "experiment_id": "1",
            "log_every_steps": 10}
    run_dir = _run_dir(tmp_path)
    assert log_run_or_leave_pending(down, run_dir, "t/nb/late/seed0", PARAMS, METRICS) is False
    assert (run_dir / PENDING).exists()
    assert json.loads((run_dir / "metrics.json").read_text()) == METRICS, "the result is untouched"

    store = f"sqlite:///{tmp_path}/later.db"
    logged, failed = sync_pending(tmp_path, uri=store)
    assert (logged, failed) == (1, 0)
    assert not (run_dir / PENDING).exists()
    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("exp")
    assert len(_children(client, experiment.experiment_id)) == 1


def test_a_down_server_never_stops_a_job_logging_on_a_thread(tmp_path, monkeypatch):
    """The job's calls return at once; the first failure is kept, the later calls are skipped, and
    finish leaves the pending marker, as in the job's own thread."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = {"uri": f"http://127.0.0.1:{_closed_port()}", "experiment_name": "exp", "experiment_id": "1",
            "log_every_steps": 10}
    run_dir = _run_dir(tmp_path)
    run = TrackedRun(down, run_dir, "t/nb/late/seed0", PARAMS, background=True)
    run.log_metrics(10, {"train_loss": 0.5})
    assert run.finish(METRICS) is False
    assert run.error is not None and run.run_id is None and _logging_threads() == []
    assert json.loads((run_dir / PENDING).read_text())["run_name"] == "t/nb/late/seed0"


def _log_one(tracking, run_dir, name):
    log_run(tracking, run_dir, name, {**PARAMS, "name": name}, METRICS)


def _log_concurrently(tracking, tmp_path, jobs=8):
    import multiprocessing

    run_dirs = [_run_dir(tmp_path, f"run{i}") for i in range(jobs)]
    processes = [multiprocessing.Process(target=_log_one, args=(tracking, d, f"job{i}"))
                 for i, d in enumerate(run_dirs)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert all(process.exitcode == 0 for process in processes)


def _children(client, experiment_id):
    """The jobs' runs: every run but the workflow's own (the parent they nest under)."""
    return [r for r in client.search_runs([experiment_id]) if WORKFLOW_TAG not in r.data.tags]


def _runs_per_experiment(uri):
    client = mlflow.MlflowClient(tracking_uri=uri)
    return {e.name: len(_children(client, e.experiment_id)) for e in client.search_experiments()}


def test_eight_concurrent_jobs_on_a_fresh_embedded_store(tmp_path):
    uri = f"sqlite:///{tmp_path}/fresh/mlflow.db"
    tracking = init_tracking(uri, "grid", str(tmp_path / "artifacts"))  # the pipeline's one init job
    _log_concurrently(tracking, tmp_path)
    counts = _runs_per_experiment(uri)
    assert counts["grid"] == 8 and counts.get("Default", 0) == 0


def test_eight_concurrent_jobs_against_a_local_mlflow_server(tmp_path):
    import subprocess
    import sys
    import time
    import urllib.request

    port = _closed_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path}/server.db",
         "--default-artifact-root", str(tmp_path / "server-artifacts"), "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.5)
        tracking = init_tracking(uri, "grid")
        _log_concurrently(tracking, tmp_path)
        counts = _runs_per_experiment(uri)
        assert counts["grid"] == 8 and counts.get("Default", 0) == 0
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_report_is_logged_on_the_workflow_run_and_a_failure_is_no_error(tmp_path, capsys):
    from breaking_bert.tracking import log_workflow_artifacts

    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    tracking = init_tracking(uri, "exp", str(tmp_path / "artifacts"))
    report = tmp_path / "findings.md"
    report.write_text("# Findings\n")
    assert log_workflow_artifacts(tracking, [report]) and log_workflow_artifacts(tracking, [report], "tables")
    client = mlflow.MlflowClient(tracking_uri=uri)
    assert {a.path for a in client.list_artifacts(tracking["parent_run_id"])} == {"findings.md", "tables"}
    assert not log_workflow_artifacts({**tracking, "parent_run_id": None}, [report]), "no workflow run: nothing"
    assert not log_workflow_artifacts(tracking, [tmp_path / "missing.md"])
    assert "were not logged" in capsys.readouterr().err
