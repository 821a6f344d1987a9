"""MLflow tracking against a real embedded store: runs, params, metrics, artifacts, and a down server."""

import json
import socket

import mlflow

from breaking_bert.tracking import PENDING, init_tracking, log_run, log_run_or_leave_pending, sync_pending

METRICS = {"score": 0.8, "eval_accuracy": 0.8, "history": [{"epoch": 1, "step": 5, "accuracy": 0.7},
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
    runs = client.search_runs([tracking["experiment_id"]])
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["training.epochs"] == "2" and run.data.params["placement"] == "late"
    assert run.data.metrics["score"] == 0.8
    assert [m.value for m in client.get_metric_history(run_id, "epoch_accuracy")] == [0.7, 0.8]
    assert {a.path for a in client.list_artifacts(run_id)} == {"config.json", "metrics.json"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_down_server_leaves_pending_and_sync_logs_it_later(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = {"uri": f"http://127.0.0.1:{_closed_port()}", "experiment_name": "exp", "experiment_id": "1"}
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
    assert len(client.search_runs([experiment.experiment_id])) == 1


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


def _runs_per_experiment(uri):
    client = mlflow.MlflowClient(tracking_uri=uri)
    return {e.name: len(client.search_runs([e.experiment_id])) for e in client.search_experiments()}


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
