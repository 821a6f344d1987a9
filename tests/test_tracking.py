"""MLflow tracking against a real embedded store: live runs, params, metrics, artifacts, a store
that cannot be opened, a moved project, and a down server."""

import hashlib
import json
import re
import shutil
import socket
import threading
import time

import mlflow
import pytest
from conftest import mlflow_serving

from breaking_bert.tracking import (
    PENDING,
    PROJECT_TAG,
    RESULTS_TAG,
    WORKFLOW_TAG,
    TrackedRun,
    TrackingError,
    code_version,
    experiment_name,
    init_store,
    init_tracking,
    job_tracking,
    log_run,
    log_run_or_leave_pending,
    open_workflow_run,
    resolved,
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
    tokens = {"training": tmp_path / "train.parquet", "evaluation": tmp_path / "eval.parquet"}
    for context, path in tokens.items():
        path.write_bytes(context.encode())
    run_id = log_run(tracking, _run_dir(tmp_path), "t/nb/late/seed0", PARAMS, METRICS, datasets=tokens)
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
    # the token files as dataset inputs: named for the task and split, by content, in their context
    inputs = {(i.dataset.name, i.dataset.digest, json.loads(i.dataset.source)["uri"], i.tags[0].value)
              for i in client.get_run(run_id).inputs.dataset_inputs}
    assert inputs == {("t/train", hashlib.sha256(b"training").hexdigest()[:32], tokens["training"].as_uri(), "training"),
                      ("t/eval", hashlib.sha256(b"evaluation").hexdigest()[:32], tokens["evaluation"].as_uri(), "evaluation")}


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


def test_a_client_opened_from_another_folder_lists_and_downloads_the_artifacts(tmp_path, monkeypatch):
    """The workflow's settings are relative to the project (tracking.uri, artifact_location); the
    artifact root is stored absolute, as MLflow makes it, so a client or `mlflow ui` opened anywhere
    with the store's absolute path finds the files."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    tracking = init_tracking("sqlite:///results/mlflow/mlflow.db", "exp", "results/mlflow/artifacts")
    run_id = log_run(tracking, _run_dir(project), "t/nb/late/seed0", PARAMS, METRICS)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project}/results/mlflow/mlflow.db")
    assert client.get_experiment(tracking["experiment_id"]).artifact_location == (project / "results/mlflow/artifacts").as_uri()
    assert {a.path for a in client.list_artifacts(run_id)} == {"config.json", "metrics.json"}
    downloaded = client.download_artifacts(run_id, "metrics.json", str(elsewhere))
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


def _as_a_job_sees_it(uri, project, results_name="grid"):
    """What a job of a config whose experiment nobody has opened yet logs with: the store the init
    job migrated (its file under the project's results/mlflow/), the config's names, the lock next
    to the store's file (workflow_run.job_tracking)."""
    store_file = project / "results/mlflow/experiment.json"
    store_file.parent.mkdir(parents=True, exist_ok=True)
    store_file.write_text(json.dumps(init_store(uri, str(project / "artifacts"))))
    return job_tracking(store_file, {"log_every_steps": 10}, results_name)


def _one_tree(uri, experiment="breaking-bert/grid", runs=8):
    """The experiment holds one workflow run and ``runs`` job runs, all nested under it."""
    client = mlflow.MlflowClient(tracking_uri=uri)
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    (workflow,) = [r for r in found if WORKFLOW_TAG in r.data.tags]
    children = [r for r in found if r is not workflow]
    assert len(children) == runs and {r.data.tags["mlflow.parentRunId"] for r in children} == {workflow.info.run_id}
    assert workflow.data.tags[RESULTS_TAG] == experiment.split("/")[-1]


def test_eight_concurrent_jobs_on_a_fresh_embedded_store(tmp_path):
    """Eight jobs start at once in a store the init job migrated, none with the config's experiment
    or workflow run opened yet: they open one of each between them (the lock), every run nested."""
    uri = f"sqlite:///{tmp_path}/fresh/mlflow.db"
    _log_concurrently(_as_a_job_sees_it(uri, tmp_path), tmp_path)
    counts = _runs_per_experiment(uri)
    assert counts["breaking-bert/grid"] == 8 and counts.get("Default", 0) == 0
    _one_tree(uri)


def test_each_config_has_its_experiment_and_workflow_run_and_a_shared_name_shares_the_experiment(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    store = init_store(uri)
    first, again = (open_workflow_run(store, experiment_name({}, "embedded"), "embedded") for _ in range(2))
    other = open_workflow_run(store, experiment_name({}, "embedded_gpu+rehearsal"), "embedded_gpu+rehearsal")
    assert first == again, "found again, not opened twice"
    assert (first["experiment_name"], other["experiment_name"]) == ("breaking-bert/embedded", "breaking-bert/embedded_gpu+rehearsal")
    assert first["experiment_id"] != other["experiment_id"] and first["parent_run_id"] != other["parent_run_id"]
    named = {"experiment": "shared"}
    one, two = (open_workflow_run(store, experiment_name(named, name), name) for name in ("a", "b"))
    assert one["experiment_id"] == two["experiment_id"] and one["parent_run_id"] != two["parent_run_id"]


def test_eight_concurrent_jobs_against_a_local_mlflow_server(tmp_path):
    options = ("--default-artifact-root", str(tmp_path / "server-artifacts"), "--workers", "2")
    with mlflow_serving("server", f"sqlite:///{tmp_path}/server.db", *options) as uri:
        _log_concurrently(_as_a_job_sees_it(uri, tmp_path), tmp_path)
        counts = _runs_per_experiment(uri)
        assert counts["breaking-bert/grid"] == 8 and counts.get("Default", 0) == 0
        _one_tree(uri)


def test_the_summaries_go_on_the_configs_workflow_run_in_their_folders(tmp_path):
    from breaking_bert.tracking import log_workflow_artifacts

    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    tracking = _as_a_job_sees_it(uri, tmp_path, "embedded")
    before = time.time() * 1000
    report, table = tmp_path / "findings.md", tmp_path / "summary.csv"
    report.write_text("# Findings\n")
    table.write_text("a,b\n")
    opened = log_workflow_artifacts(tracking, {report: "", table: "tables"})
    client = mlflow.MlflowClient(tracking_uri=uri)
    workflow = client.get_run(opened["parent_run_id"])
    assert workflow.data.tags[RESULTS_TAG] == "embedded" and workflow.info.end_time >= before, "ends with its summaries"
    assert {a.path for a in client.list_artifacts(opened["parent_run_id"])} == {"findings.md", "tables"}
    assert [a.path for a in client.list_artifacts(opened["parent_run_id"], "tables")] == ["tables/summary.csv"]
    with pytest.raises(FileNotFoundError):  # the job that logs them fails, so a rerun logs them
        log_workflow_artifacts(tracking, {tmp_path / "missing.md": ""})


def test_two_project_folders_on_one_store_keep_their_workflow_runs_apart(tmp_path):
    """Two clones logging one config (one name) to one server: one experiment, a workflow run each
    (tagged with its folder), each folder's summaries on its own."""
    uri = f"sqlite:///{tmp_path}/server.db"
    first, second = (resolved(_as_a_job_sees_it(uri, tmp_path / name, "embedded")) for name in ("one", "two"))
    assert first["experiment_id"] == second["experiment_id"] and first["parent_run_id"] != second["parent_run_id"]
    client = mlflow.MlflowClient(tracking_uri=uri)
    assert client.get_run(second["parent_run_id"]).data.tags[PROJECT_TAG] == str(tmp_path / "two")
    assert resolved(_as_a_job_sees_it(uri, tmp_path / "one", "embedded"))["parent_run_id"] == first["parent_run_id"]


def test_where_two_jobs_made_a_workflow_run_each_every_job_settles_on_the_oldest(tmp_path):
    """No lock (a shared file system mounted without one): two workflow runs for one config; the
    next job takes the oldest and deletes the other, so one tree remains."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracking = _as_a_job_sees_it(uri, tmp_path)
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment(tracking["experiment_name"])
    tags = {WORKFLOW_TAG: "true", RESULTS_TAG: "grid", PROJECT_TAG: tracking["project"]}
    older, newer = (client.create_run(experiment, start_time=start, tags=tags).info.run_id for start in (1000, 2000))
    assert resolved(tracking)["parent_run_id"] == older
    assert client.get_run(newer).info.lifecycle_stage == "deleted"


def test_a_deleted_experiment_stops_saying_how_to_restore_it(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracking = resolved(_as_a_job_sees_it(uri, tmp_path))
    mlflow.MlflowClient(tracking_uri=uri).delete_experiment(tracking["experiment_id"])
    with pytest.raises(TrackingError, match=r"in the store's trash: restore it \(mlflow experiments restore"):
        resolved(_as_a_job_sees_it(uri, tmp_path))


def test_a_job_opens_its_configs_experiment_whatever_ids_an_older_store_file_names(tmp_path):
    """The store file of a version with one experiment for every config held its id: a job reads
    the store's address from it, never the experiment."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    old = init_tracking(uri, "breaking-bert", str(tmp_path / "artifacts"))
    store_file = tmp_path / "results/mlflow/experiment.json"
    store_file.parent.mkdir(parents=True)
    store_file.write_text(json.dumps(old))
    opened = resolved(job_tracking(store_file, {}, "embedded"))
    assert opened["experiment_name"] == "breaking-bert/embedded" and opened["experiment_id"] != old["experiment_id"]


def test_a_run_left_pending_before_its_experiment_was_opened_is_synced_from_another_folder(tmp_path, monkeypatch):
    """The server was down when the job started: the marker holds the config's names, not ids, and
    its lock's folder is gone by the time `breaking-bert-sync-tracking` runs elsewhere."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    project = tmp_path / "project"
    down = _as_a_job_sees_it(f"sqlite:///{tmp_path}/made.db", project)
    down["uri"] = f"http://127.0.0.1:{_closed_port()}"
    run_dir = _run_dir(tmp_path)
    assert log_run_or_leave_pending(down, run_dir, "t/nb/late/seed0", PARAMS, METRICS) is False
    assert "experiment_id" not in json.loads((run_dir / PENDING).read_text())["tracking"]
    shutil.rmtree(project / "results")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    store = f"sqlite:///{tmp_path}/later.db"  # the store is up again (here: at another address)
    marker = json.loads((run_dir / PENDING).read_text())
    marker["tracking"]["uri"] = store
    (run_dir / PENDING).write_text(json.dumps(marker))
    assert sync_pending(tmp_path) == (1, 0)
    _one_tree(store, runs=1)
