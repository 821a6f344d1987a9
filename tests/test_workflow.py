"""The whole DAG, for real: Snakemake runs every stage on a tiny random BERT and a tiny CSV task."""

import base64
import hashlib
import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import SNAKEMAKE, finetune_grid_only, mlflow_serving, scheduled_jobs, snakemake, tiny_config  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture
def finished_run(finished_tiny_tree):
    return finished_tiny_tree


def test_whole_dag_produces_tables_figures_and_runs(finished_run):
    runs = pd.read_csv(finished_run / "results/test_config/tables/runs.csv")
    # dense + 3 patterns x 2 placements + 2 controls + 1 single-layer + 2 BigBird points, one seed
    assert len(runs) == 1 + 3 * 2 + 2 + 1 + 2
    assert set(runs["pattern"]) == {"dense", "neighbour", "random", "syntax", "lexical", "syntax_control",
                                    "bb_g1_w0_r1", "bb_g1_w1_r1"}
    assert set(runs.loc[runs["kind"] == "bigbird", "degrees"]) == {"g=1 w=0 r=1", "g=1 w=1 r=1"}
    assert runs["score"].between(0, 1).all()
    sparse = runs[runs["pattern"] != "dense"]
    assert (sparse["sparsity_mean"] > 0.2).all(), "achieved sparsity recorded per run"
    summary = pd.read_csv(finished_run / "results/test_config/tables/summary.csv")
    dense_mean = summary.loc[summary["pattern"] == "dense", "score_mean"].item()
    assert (summary["delta_vs_dense"] == summary["score_mean"] - dense_mean).all()
    _assert_a_drawn_figure(finished_run / "results/test_config/figures/score_by_pattern_and_placement.png")
    sparsity = pd.read_csv(finished_run / "results/test_config/tables/sparsity.csv")
    random_eval = sparsity[(sparsity["pattern"] == "random") & (sparsity["split"] == "eval")]
    assert abs(random_eval["sparsity_mean"].item() - 0.6) < 0.1
    eval_sparsity = sparsity[sparsity["split"] == "eval"].set_index("pattern")["sparsity_mean"]
    assert eval_sparsity["syntax_control"] == pytest.approx(eval_sparsity["syntax"]), "degree-matched control"
    assert abs(eval_sparsity["lexical"] - 0.6) < 0.1
    run = finished_run / "results/runs/tiny/syntax/late/seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["masked_layers"] == [2, 3] and metrics["placement"] == "late"
    assert json.loads((run / "config.json").read_text())["pattern_config"]["kind"] == "syntax"
    assert "finetune" in (run / "train.log").read_text()  # the progress bar goes to the job's log
    # the SDPA kernel of each kind of call the job made: a dense run makes no masked call (the
    # maskability probe at load is not the job's)
    assert set(metrics["sdpa_kernels"]) == {"dense train", "masked train", "dense eval", "masked eval"}
    dense = json.loads((finished_run / "results/runs/tiny/dense/none/seed0/metrics.json").read_text())
    assert set(dense["sdpa_kernels"]) == {"dense train", "dense eval"}, dense["sdpa_kernels"]
    for figure in ("layer_sweep", "score_vs_sparsity", "retained_mass", "kernel_timing", "learned_degrees_tiny"):
        _assert_a_drawn_figure(finished_run / f"results/test_config/figures/{figure}.png")
    # the effective sparsity beside the paper's: masking the late half of 4 layers reaches 1 of the 3
    # layers whose connections count, so it is well under the pattern's sparsity
    late = runs[(runs["pattern"] == "syntax") & (runs["placement"] == "late")].iloc[0]
    assert 0 < late["effective_sparsity_mean"] < 0.5 * late["sparsity_mean"]


def _assert_a_drawn_figure(path):
    """A PNG that decodes to an image with something drawn on it (not one flat colour)."""
    from matplotlib.image import imread

    pixels = imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200, (path, pixels.shape)
    assert pixels[..., :3].std() > 0.05, f"{path.name}: nothing drawn"


def test_learned_sparsity_runs_hold_their_targets_and_feed_the_findings(finished_run):
    learned = pd.read_csv(finished_run / "results/test_config/tables/learned_summary.csv").set_index(["variant", "setting"])
    assert len(learned) == 8, "2 variants x 2 targets, each with its frozen-window control"
    assert learned.loc[("regular", "target0.9"), "sparsity_mean"] > learned.loc[("regular", "target0.3"), "sparsity_mean"]
    metrics = json.loads((finished_run / "results/learned/tiny/irregular/target0.9/seed0/metrics.json").read_text())
    assert len(metrics["learned_windows"]) == 4 and len(metrics["learned_windows"][0][0]) == 3  # layers, heads, classes
    control = json.loads((finished_run / "results/learned/tiny/irregular_frozen/target0.9/seed0/metrics.json").read_text())
    assert control["learned_windows"] == metrics["learned_windows"], "the control trains with the learned windows"
    assert control["eval_sparsity_mean"] == pytest.approx(metrics["eval_sparsity_mean"])
    findings = (finished_run / "results/test_config/findings.md").read_text()
    for number in "1234":
        assert f"| {number}. " in findings
    assert "Where the learned degrees put their connections" in findings
    assert "| Learning the windows during finetuning beats training with them fixed |" in findings
    assert "Pearson" in findings, "retained mass correlated with the measured drops"
    retained = pd.read_csv(finished_run / "results/test_config/tables/retained_mass.csv")
    assert retained["retained_mass"].between(0, 1 + 1e-6).all() and set(retained["layer"]) == {0, 1, 2, 3}
    timing = pd.read_csv(finished_run / "results/test_config/cost/kernel_timing.csv")
    assert timing["speedup"].gt(0).all() and set(timing["length"]) == {128}
    # on CPU: FlexAttention forward only (no CPU backward), the band kernel forward and backward
    assert sorted(zip(timing["kernel"], timing["pass"])) == [("band", "forward"), ("band", "forward+backward"),
                                                           ("flex", "forward")]


def test_report_captions_every_figure_and_shows_the_findings_and_tables_as_html(finished_run):
    """The report embeds each result as a data URI; the findings and the tables are HTML (which
    Snakemake shows inline; Markdown it would only offer as a download), with their content."""
    import base64
    import re

    snakemake(finished_run, "--report", str(finished_run / "report.html"))
    html = (finished_run / "report.html").read_text(errors="replace")
    for figure in ("score_by_pattern_and_placement", "layer_sweep", "score_vs_sparsity", "retained_mass",
                   "kernel_timing", "learned_degrees_tiny", "masks_tiny"):
        assert f"{figure}.png" in html, figure
    embedded = {name: base64.b64decode(data).decode() for mime, name, data in
                re.findall(r"data:([\w/.+-]+);charset=[\w-]+;filename=([^;]+);base64,([A-Za-z0-9+/=]+)", html)
                if mime == "text/html"}
    assert {"findings.html", "summary.html", "sparsity.html", "eval_sampling.html", "cost.html",
            "learned_summary.html"} <= set(embedded)
    assert "<h1>Findings</h1>" in embedded["findings.html"] and "<td>1. Late-layer" in embedded["findings.html"]
    assert "<th>score_mean</th>" in embedded["summary.html"] and "<td>tiny</td>" in embedded["summary.html"]
    assert "findings.md" not in {name for _, name in re.findall(r"data:([\w/.+-]+);charset=[\w-]+;filename=([^;]+);base64,", html)}


def test_second_run_schedules_nothing(finished_run):
    assert scheduled_jobs(finished_run) == {}


@pytest.fixture
def mlflow_ui(finished_run, tmp_path):
    """`mlflow ui` on the finished tree's store, started from another folder; its address."""
    store = f"sqlite:///{finished_run}/results/mlflow/mlflow.db"
    with mlflow_serving("ui", store, "--workers", "1", cwd=tmp_path) as address:
        yield address


def test_mlflow_store_has_one_run_per_finetune_job(finished_run, mlflow_ui):
    """Read back as an MLflow user would: through `mlflow ui` started from another folder, over HTTP."""
    import urllib.request

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=mlflow_ui)
    experiment = client.get_experiment_by_name("breaking-bert/test_config")  # the config's own
    everything = client.search_runs([experiment.experiment_id])
    (workflow,) = [run for run in everything if "breaking_bert.workflow" in run.data.tags]
    assert workflow.data.tags["breaking_bert.results_name"] == "test_config"
    found = [run for run in everything if run is not workflow]
    assert len(found) == 12 + 4 + 4  # finetunes, learned-sparsity runs and their frozen-window controls
    assert {run.data.tags.get("mlflow.parentRunId") for run in found} == {workflow.info.run_id}, "all nested"
    # the config's summaries on its workflow run, as the UI lists them (its REST call)
    with urllib.request.urlopen(f"{mlflow_ui}/api/2.0/mlflow/artifacts/list?run_id={workflow.info.run_id}") as response:
        logged = {entry["path"] for entry in json.loads(response.read())["files"]}
    assert logged == {"findings.md", "findings.html", "tables", "figures", "cost"}, logged
    tables = {a.path for a in client.list_artifacts(workflow.info.run_id, "tables")}
    made = {f"tables/{p.name}" for p in (finished_run / "results/test_config/tables").iterdir()}
    assert tables == made and "tables/learned_windows.csv" in made, made ^ tables  # every table and its copies
    figures = {a.path for a in client.list_artifacts(workflow.info.run_id, "figures")}
    assert figures == {f"figures/{p.name}" for p in (finished_run / "results/test_config/figures").iterdir()}
    record = json.loads((finished_run / "results/test_config/mlflow/workflow_run.json").read_text())
    assert record["parent_run_id"] == workflow.info.run_id and "tables/summary.csv" in record["artifacts"]
    keys = {run.data.tags["run_key"] for run in found}
    assert "tiny/syntax/late/seed0" in keys and "tiny/dense/none/seed0" in keys
    one = next(run for run in found if run.data.tags["run_key"] == "tiny/neighbour/all/seed0")
    assert one.data.params["placement"] == "all" and "score" in one.data.metrics
    datasets = {(i.dataset.name, i.tags[0].value) for i in client.get_run(one.info.run_id).inputs.dataset_inputs}
    assert datasets == {("tiny/train", "training"), ("tiny/eval", "evaluation")}
    assert not list(finished_run.glob("results/runs/**/tracking_pending.json"))
    # opened when the job started, closed when it ended, metrics stamped as they came
    run_dir = finished_run / "results/runs/tiny/neighbour/all/seed0"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    info = one.info
    assert info.status == "FINISHED" and info.end_time - info.start_time >= metrics["train_seconds"] * 1000
    losses = client.get_metric_history(info.run_id, "train_loss")
    assert [m.step for m in losses] == list(range(1, len(losses) + 1)) and losses, "every step (log_every_steps: 1)"
    evaluated = client.get_metric_history(info.run_id, "eval_accuracy")
    assert info.start_time <= losses[0].timestamp <= losses[-1].timestamp <= evaluated[-1].timestamp, "opened first"
    for name in ("train_loss", "eval_accuracy", "score"):
        assert all(info.start_time <= m.timestamp <= info.end_time for m in client.get_metric_history(info.run_id, name))
    assert one.data.params["seed"] == "0" and "seed" not in one.data.metrics
    assert one.data.tags["fingerprint"] == metrics["fingerprint"] and "git_commit" in one.data.tags


def _edit(path: Path):
    """Change a library file's content (Snakemake ignores a bare touch: it compares checksums);
    returns a function that restores it."""
    original = path.read_text()
    path.write_text(original + "\n# an edit\n")
    return lambda: path.write_text(original)


AGGREGATION_AND_FIGURES = {"aggregate": 1, "figure_score_by_pattern_and_placement": 1, "figure_layer_sweep": 1,
                           "figure_score_vs_sparsity": 1, "findings": 1, "track_summaries": 1,
                           "all": 1}
EVERYTHING_AFTER_MASKS = {**AGGREGATION_AND_FIGURES, "figure_mask_gallery": 1, "aggregate_cost": 1,
                          "figure_retained_mass": 1}


def test_changing_one_pattern_parameter_reruns_only_that_pattern(finished_run):
    config_path = finished_run / "test_config.yaml"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    config["patterns"]["neighbour"]["degrees"]["w"] = 2
    changed = finished_run / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    try:
        config_path.write_text(changed.read_text())
        assert scheduled_jobs(finished_run) == {"masks": 1, "finetune": 3, "cost": 1, **EVERYTHING_AFTER_MASKS}
    finally:
        config_path.write_text(original)
    assert scheduled_jobs(finished_run) == {}



def test_a_report_made_under_the_fixed_design_never_stands_in_for_the_sequential_designs(finished_run):
    """Switching a finished folder to the sequential design schedules its first look, the seeds it
    needs and the findings again. Snakemake takes a job whose output exists as done while a
    checkpoint its input function reads has not run, so the fixed design's findings.md stood in
    ("Nothing to be done"; measured on experiment 2) until the design became a file they read."""
    config_path = finished_run / "test_config.yaml"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    config["seeds"] = {"initial": 2, "max": 4, "step": 2}
    try:
        config_path.write_text(yaml.safe_dump(config))
        jobs = scheduled_jobs(finished_run)
    finally:
        config_path.write_text(original)
    assert jobs.get("look") == 1 and jobs.get("findings") == 1 and jobs.get("finetune", 0) >= 1, jobs
    assert scheduled_jobs(finished_run) == {}

@pytest.mark.parametrize("module", ["masks/patterns.py", "kinds.py"])
def test_editing_the_mask_library_reruns_masks_and_sparse_finetunes_only(finished_run, module):
    restore = _edit(finished_run / "src/breaking_bert" / module)
    try:
        jobs = scheduled_jobs(finished_run)
    finally:
        restore()
    # every sparse pattern's masks, finetunes and cost, and the kernel timing (its synthetic masks
    # come from the same builders); no data, tokens, parse, dense finetune or learned job. The
    # registry (kinds.py) also names the degree columns every table, figure and finding reads, so
    # editing it reruns the learned runs' table and figure too (code_inputs.py)
    registry = {"aggregate_learned": 1, "figure_learned_degrees": 1} if module == "kinds.py" else {}
    assert jobs == {"masks": 7, "finetune": 11, "cost": 7, "kernel_timing": 1, "figure_kernel_timing": 1,
                    **EVERYTHING_AFTER_MASKS, **registry}


def test_editing_the_aggregation_code_reruns_only_aggregation_and_figures(finished_run):
    restore = _edit(finished_run / "src/breaking_bert/aggregate.py")
    try:
        # the three aggregations and what reads their tables; no finetune, mask or cost job
        assert scheduled_jobs(finished_run) == {**AGGREGATION_AND_FIGURES, "aggregate_cost": 1, "aggregate_learned": 1,
                                                "figure_retained_mass": 1, "figure_learned_degrees": 1}
    finally:
        restore()


# One tested change per row of docs/DESIGN.md's rerun table (the key as written there -> new value).
RERUN_TABLE_CHANGES = {
    "tasks.<task>.eval_fraction": ("tasks.tiny.eval_fraction", 0.3),
    "tasks.<task>.metric": ("tasks.tiny.metric", "f1"),
    "model.max_length": ("model.max_length", 24),
    "parser.batch_size": ("parser.batch_size", 7),
    "masks.tolerance": ("masks.tolerance", 0.2),
    "masks.special_tokens": ("masks.special_tokens", "like_words"),
    "patterns.<name>.degrees": ("patterns.neighbour.degrees", {"w": 2}),
    "training.learning_rate": ("training.learning_rate", 5e-4),
    "training.checkpoint_every_steps": ("training.checkpoint_every_steps", 7),
    "learned_sparsity.ramp": ("learned_sparsity.ramp", 3.0),
    "cost.retained_examples": ("cost.retained_examples", 4),
    "cost.block_sizes": ("cost.block_sizes", [32]),
    "cost.timing_lengths": ("cost.timing_lengths", [256]),
    "findings.negligible_drop": ("findings.negligible_drop", 0.02),
    "tracking.uri": ("tracking.uri", "sqlite:///results/mlflow/other.db"),
    "tracking.experiment": ("tracking.experiment", "elsewhere"),
}


def _rerun_table() -> dict[str, set[str]]:
    text = (Path(__file__).resolve().parents[1] / "docs/DESIGN.md").read_text()
    table = text.split("<!-- rerun-table", 1)[1].split("<!-- end rerun-table -->", 1)[0]
    rows = {}
    for key, rules in re.findall(r"^\| `([^`]+)`[^|]* \| ([^|]+) \|$", table, flags=re.MULTILINE):
        rows[key] = {re.sub(r"\s*\(.*\)", "", rule).strip() for rule in rules.split(",")}
    return rows


def _jobs_and_reasons(directory: Path, configfile: str) -> list[tuple[str, str]]:
    """(rule, reason) of every job a dry run schedules. Snakemake prints one reason per job, the
    first that applies: a job downstream of a rerun says "Input files updated by another job" even
    when its own params changed too. --nolock: dry runs of the same folder run side by side."""
    output = snakemake(directory, "--dry-run", "--nolock", configfile=configfile)
    return re.findall(r"^rule (\w+):\n(?:    (?!reason:).*\n)*    reason: (.*)$", output.stdout + output.stderr,
                      flags=re.MULTILINE)


def test_each_config_key_reruns_the_rules_the_design_doc_names(finished_run):
    table = _rerun_table()
    assert set(table) == set(RERUN_TABLE_CHANGES), "every row of the table is tested, and only those"
    original = (finished_run / "test_config.yaml").read_text()
    changed = {}  # row -> the config with that one key changed, a file of its own
    for index, (row, (dotted, value)) in enumerate(RERUN_TABLE_CHANGES.items()):
        config = yaml.safe_load(original)
        *parents, leaf = dotted.split(".")
        section = config
        for name in parents:
            section = section.setdefault(name, {})
        assert section.get(leaf) != value, dotted
        section[leaf] = value
        config["results_name"] = "test_config"  # the finished summaries', whatever this file is called
        changed[row] = f"rerun_row{index}.yaml"
        (finished_run / changed[row]).write_text(yaml.safe_dump(config))
    try:
        # a dry run is one single-threaded process: two at a time on two cores
        with ThreadPoolExecutor(max_workers=2) as pool:
            planned = dict(zip(changed, pool.map(lambda name: _jobs_and_reasons(finished_run, name), changed.values())))
    finally:
        for name in changed.values():
            (finished_run / name).unlink()
    for row, jobs in planned.items():
        params_changed = {rule for rule, reason in jobs if reason.startswith("Params have changed")}
        assert params_changed and params_changed <= table[row], (row, jobs)
        assert table[row] <= {rule for rule, _ in jobs}, (row, "a rule the table names does not rerun")
        others = {(rule, reason.split(":")[0]) for rule, reason in jobs if rule not in params_changed}
        assert all(reason == "Input files updated by another job" for _, reason in others), (row, others)
    assert scheduled_jobs(finished_run) == {}



def test_two_checkouts_sharing_one_virtualenv_each_run_their_own_library(tiny_model_dir, tiny_csv, tmp_path):
    """The virtualenv's editable install points at this repository; each copy here is a second
    checkout. A job imports its own checkout's src/ (common.smk's PYTHONPATH), so an edit in the
    second checkout shows in the second's job and not in the first's."""
    from conftest import copy_workflow

    config = yaml.safe_dump(finetune_grid_only(tiny_config(tiny_model_dir, tiny_csv)))
    first, second = copy_workflow(tmp_path / "first"), copy_workflow(tmp_path / "second")
    library = second / "src/breaking_bert/data/prepare_data.py"
    library.write_text(library.read_text().replace('summary = split_summary(train, evaluation, labels)',
                                                   'summary = {**split_summary(train, evaluation, labels), "edited": True}'))
    for checkout in (first, second):
        (checkout / "test_config.yaml").write_text(config)
        snakemake(checkout, "results/data/tiny/summary.json")
    assert "edited" not in json.loads((first / "results/data/tiny/summary.json").read_text())
    assert json.loads((second / "results/data/tiny/summary.json").read_text())["edited"] is True


def test_a_runs_evidence_gives_its_findings_report_word_for_word(finished_run, tmp_path):
    """What a results page commits of a run (findings/evidence.py: the findings rule's tables, each
    run's eval predictions as digits, its parameters) is all the report is made of: made again from
    the evidence, it is the run's findings.md."""
    from breaking_bert.findings.evidence import evidence_report, write_evidence
    from breaking_bert.findings.run_facts import run_directories

    runs = run_directories(finished_run / "results/test_config", finished_run)
    assert runs["finetune"] and all((d / "metrics.json").exists() for d in runs["finetune"])
    write_evidence(finished_run / "results/test_config", [finished_run / "test_config.yaml"], tmp_path,
                   {"runs": [d / "metrics.json" for d in runs["finetune"]],
                    "learned_runs": [d / "metrics.json" for d in runs["learned"]]})
    kept = [json.loads(line)["eval_predictions"] for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(kept) == len(runs["finetune"]) + len(runs["learned"]) and all(isinstance(p, str) and len(p) == 15 for p in kept)
    assert evidence_report(tmp_path) == (finished_run / "results/test_config/findings.md").read_text()


def test_every_job_is_checked_against_the_memory_its_rule_declares(finished_run):
    """./run.sh memory reads each job's declared resources from Snakemake's own log and its peak
    from the job's log (the kernel's, not the benchmark file's 30 s samples): every benchmark file
    of the run is matched to its rule, and no job of the tiny DAG used more than its rule declares."""
    from breaking_bert.resources.check import declared_jobs, logged_peak, main, measured, per_rule, sampled_peak
    from breaking_bert.resources.training import START_UP_MINUTES

    jobs = measured(finished_run, declared_jobs(finished_run))
    files = {str(path.relative_to(finished_run)) for path in (finished_run / "results").rglob("*.tsv")
             if path.name == "benchmark.tsv" or "benchmarks" in path.parts}
    assert files and files == set(jobs["benchmark"])
    table = per_rule(jobs).set_index("rule")
    mib = 1e6 / 2**20
    # a tiny BERT's training jobs reserve the base and little more (resources.training), not 8 GB,
    # and minutes reckoned from the task's tokens, not the 4 hours of a model or task not known
    assert 2000 * mib <= table.loc["finetune", "declared MiB (most)"] < 2100 * mib
    assert table.loc["finetune", "runtime min (most)"] == START_UP_MINUTES + 1
    assert table["jobs past runtime"].sum() == 0
    for rule in ("parse", "tokens", "masks"):  # a base and minutes per MiB read: on the tiny task, the base
        assert 10 <= table.loc[rule, "runtime min (most)"] <= 16, rule
    assert table.loc["finetune", "jobs"] == 12 and table["jobs over"].sum() == 0
    assert table["undeclared"].sum() == 0, "every rule declares its memory (a cluster enforces it)"
    assert table["sampled only"].sum() == 0 and table["unmeasured"].sum() == 0, "every job's log ends with its peak"
    # the job's own process: not the Snakemake process it was started from (~180 MiB here), nor its
    # git children counted again (a finetune's rusage read 586 + 583 where its benchmark saw 597)
    logged = {rule: logged_peak(finished_run / log) for rule, log in zip(jobs["rule"], jobs["log"])}
    assert logged["design"] < 60, "design imports the standard library only"
    finetunes = jobs[jobs["rule"] == "finetune"]
    for log, benchmark in zip(finetunes["log"], finetunes["benchmark"]):
        assert logged_peak(finished_run / log) < 1.3 * sampled_peak(finished_run / benchmark) + 50, log
    # the data stages declare a base plus a multiple of what they read: on the tiny task, little
    for rule, base in {"prepare_data": 1000, "tokens": 900, "masks": 1000}.items():
        assert base * mib <= table.loc[rule, "declared MiB (most)"] < (base + 100) * mib, rule
    assert main(finished_run) == 0


SHARED_STAGES = {"prepare_data", "tokens", "parse", "masks", "finetune", "learn_degrees", "cost"}


def _checksums(folder: Path) -> dict:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _assert_its_own_experiment_with_its_summaries_and_no_job_run(finished_run):
    """MLflow: the second config has an experiment and a workflow run of its own, holding its
    summaries; it logged no job run (it trained none); the first config's experiment is as it was."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{finished_run}/results/mlflow/mlflow.db")
    ours, theirs = (client.search_runs([client.get_experiment_by_name(f"breaking-bert/{name}").experiment_id])
                    for name in ("other", "test_config"))
    assert [run.data.tags["breaking_bert.results_name"] for run in ours] == ["other"], "its workflow run only"
    assert len(theirs) == 1 + 12 + 4 + 4
    logged = {a.path for a in client.list_artifacts(ours[0].info.run_id, "tables")}
    assert "tables/runs.csv" in logged and "tables/cost.csv" not in logged, logged


def test_a_second_config_in_the_folder_keeps_its_own_summaries_and_shares_the_runs(finished_run):
    """Results per config (src/breaking_bert/layout.py). A smaller config beside the finished tiny one:
    it trains nothing (its dense and neighbour runs are the first config's), writes its own tables,
    figures and report under results/other/, leaves the first config's untouched and up to date,
    and its --report shows its own tables. In the finished folder itself (a copy elsewhere would
    train again: the declared code inputs are absolute paths), which it leaves as it found it but
    for the second config's experiment in the MLflow store."""
    config = yaml.safe_load((finished_run / "test_config.yaml").read_text())
    config["experiments"] = {"ablation": {"tasks": ["tiny"], "patterns": ["neighbour"], "placements": ["all", "late"]}}
    for key in ("pattern_grids", "learned_sparsity"):
        config.pop(key)
    config["cost"] = {"enabled": False}
    first = _checksums(finished_run / "results/test_config")
    logs = set((finished_run / ".snakemake/log").iterdir())
    (finished_run / "other.yaml").write_text(yaml.safe_dump(config))
    try:
        planned = scheduled_jobs(finished_run, configfile="other.yaml")
        assert planned.get("aggregate") == 1 and planned.get("findings") == 1, planned
        assert not SHARED_STAGES & set(planned), f"a shared run or mask made again: {planned}"
        ran = snakemake(finished_run, configfile="other.yaml")
        assert f"findings, tables and figures: {finished_run.resolve()}/results/other/" in ran.stdout, ran.stdout[-500:]
        assert "Its MLflow experiment: breaking-bert/other" in ran.stdout
        runs = pd.read_csv(finished_run / "results/other/tables/runs.csv")
        assert set(zip(runs["pattern"], runs["placement"])) == {("dense", "none"), ("neighbour", "all"), ("neighbour", "late")}
        ours, theirs = ((finished_run / f"results/{name}/findings.md").read_text() for name in ("other", "test_config"))
        assert ours != theirs, "its own report, from its own runs table"
        assert _checksums(finished_run / "results/test_config") == first, "the first config's summaries were touched"
        assert scheduled_jobs(finished_run) == {} and scheduled_jobs(finished_run, configfile="other.yaml") == {}
        _assert_its_own_experiment_with_its_summaries_and_no_job_run(finished_run)
        snakemake(finished_run, "--report", str(finished_run / "other.html"), configfile="other.yaml")
        html = (finished_run / "other.html").read_text(errors="replace")
    finally:
        shutil.rmtree(finished_run / "results/other", ignore_errors=True)
        for path in [finished_run / "other.yaml", finished_run / "other.html",
                     *(set((finished_run / ".snakemake/log").iterdir()) - logs)]:
            path.unlink(missing_ok=True)
    embedded = {name: base64.b64decode(data).decode() for mime, name, data in
                re.findall(r"data:([\w/.+-]+);charset=[\w-]+;filename=([^;]+);base64,([A-Za-z0-9+/=]+)", html)
                if mime == "text/html"}
    assert "<td>neighbour</td>" in embedded["summary.html"] and "<td>random</td>" not in embedded["summary.html"]
    assert "cost.html" not in embedded and "retained_mass.png" not in html, "the first config's cost outputs"
