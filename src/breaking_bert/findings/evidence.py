"""A findings report and what it is made from.

``findings_report`` is the one place a report is made: the findings rule's script calls it on the
run's tables and metrics files, and a results page (page.py) on the run's *evidence*, a folder
committed beside the page (``docs/results/<name>/evidence/``) that holds exactly what the findings
rule reads: its tables (``TABLES``), each run's eval predictions (``predictions.jsonl``, one line a
run, the labels once a task in ``labels.json``) and the rule's parameters (``params.json``: the
seeds design and the thresholds the run's config gave). So a page's report is today's code applied
to that run's data, and a test re-makes it: a verdict edited by hand, or a change to the rule that
flips one, shows as a page that is no longer what its evidence gives.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pandas as pd

# the findings rule's tables (its input names: workflow/rules/common/inputs.smk), as results/<config>/tables/ names them
TABLES = {"runs": "runs.csv", "summary": "summary.csv", "eval_sampling": "eval_sampling.csv",
          "learned_runs": "learned_runs.csv", "learned_summary": "learned_summary.csv",
          "retained": "retained_mass.csv", "cost": "cost.csv"}
# a runs table's kind (vocabulary.runs_table_kind) by its name in TABLES
PREDICTED_TABLES = {"runs": "runs", "learned_runs": "learned"}


def findings_report(tables: dict[str, str | Path], predictions: dict[str, pd.DataFrame], seeds, thresholds) -> str:
    """The report of one run: ``tables`` the paths of TABLES' tables it has (learned runs, retained
    mass and cost where the config ran them), ``predictions`` each runs table's eval predictions
    (stats.eval_sampling.read_predictions' columns), ``seeds`` and ``thresholds`` the config's
    ``seeds`` and ``findings``."""
    from ..aggregate import read_runs_table
    from ..stats.eval_sampling import attach_predictions, collapsed_runs, eval_sampling_section
    from .learned import learned_degree_placement
    from .report import design_verdicts, render_report, retained_mass_section

    # each run's per-example values beside its score: the intervals cover the eval set's sampling too
    runs = attach_predictions(read_runs_table(tables["runs"]), predictions["runs"])
    summary = read_runs_table(tables["summary"])
    learned_runs = None
    if "learned_runs" in tables:
        learned_runs = attach_predictions(read_runs_table(tables["learned_runs"]), predictions["learned_runs"])
    # of a sequential design, each cell as judged at the look that decided it
    verdicts = design_verdicts(seeds, runs, learned_runs, thresholds)
    sections = [learned_degree_placement(pd.read_csv(tables["learned_summary"]))] if learned_runs is not None else []
    if "retained" in tables:
        sections.append(retained_mass_section(summary, pd.read_csv(tables["retained"]), pd.read_csv(tables["cost"])))
    sections.append(eval_sampling_section(pd.read_csv(tables["eval_sampling"])))
    return render_report(verdicts, summary, sections, seeds, warnings=collapsed_runs(runs, learned_runs))


def cut_short_banner(metric_paths) -> str:
    """A warning to open the report with when any run's training was cut by ``training.max_steps``
    (a rehearsal: config/overlays/rehearsal.yaml): such runs checked that every job runs, and their
    verdicts say nothing about sparsified attention. Read from the runs' own metrics, not the config,
    so a report over runs trained elsewhere says it too."""
    cut = {}
    for path in metric_paths:
        steps = json.loads(Path(path).read_text()).get("training", {}).get("max_steps")
        if steps is not None:
            cut[steps] = cut.get(steps, 0) + 1
    if not cut:
        return ""
    counts = ", ".join(f"{runs} at {steps} step(s)" for steps, runs in sorted(cut.items()))
    return (f"> **Not a result: {sum(cut.values())} run(s) had their training cut short** ({counts}; "
            "`training.max_steps`, e.g. the rehearsal overlay). They show that every job runs; the verdicts "
            "below come from models that barely trained and say nothing about sparsified attention.\n\n")


def _merged(base: dict, over: dict) -> dict:
    """``over`` merged into ``base`` key by key, nested mappings too, as Snakemake merges --configfile files."""
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


# the checkout this library is in: its workflow's default config and schema (the page tool runs here)
CHECKOUT = Path(__file__).resolve().parents[3]


def run_config(configs: list[Path], checkout: Path = CHECKOUT, defaults: bool = True, fallback: bool = True) -> dict:
    """The config these files give the workflow of ``checkout``: merged in order as Snakemake merges
    them, over the Snakefile's default (its config/config.yaml) where none names tasks, with its
    schema's defaults filled in for the top-level keys and their settings, as the workflow's
    validation fills them (the findings job's environment has no validator: this reads the
    defaults), unless ``defaults`` is false; ``fallback`` false: the files' keys alone."""
    import yaml

    config = {}
    for path in configs:
        config = _merged(config, yaml.safe_load(Path(path).read_text()) or {})
    if fallback and "tasks" not in config:  # the Snakefile's fallback
        config = _merged(yaml.safe_load((checkout / "config" / "config.yaml").read_text()) or {}, config)
    if not defaults:
        return config
    schema = yaml.safe_load((checkout / "config" / "schema.yaml").read_text())
    for key, entry in schema["properties"].items():
        if key not in config and "default" in entry:
            config[key] = copy.deepcopy(entry["default"])
        if isinstance(config.get(key), dict):
            for name, setting in entry.get("properties", {}).items():
                if "default" in setting:
                    config[key].setdefault(name, copy.deepcopy(setting["default"]))
    return config


def findings_params(config: dict) -> dict:
    """The findings rule's parameters in this config (run_config's, its defaults filled in):
    ``seeds`` and ``thresholds`` (``findings``), as workflow/rules/findings.smk passes them."""
    return {"seeds": config["seeds"], "thresholds": config["findings"]}


def findings_tables(config: dict) -> list[str]:
    """TABLES' names the findings rule reads for this config (run_config's; workflow/rules/common/inputs.smk):
    learned runs only where it trains them, retained mass and cost only where it measures cost."""
    names = ["runs", "summary", "eval_sampling"]
    if config.get("learned_sparsity"):  # no default: absent, no learned runs
        names += ["learned_runs", "learned_summary"]
    if config["cost"]["enabled"]:
        names += ["retained", "cost"]
    return names


def _digits(values) -> str | list:
    """Predictions or labels as a string of digits where every class id is one (most tasks), else the list."""
    values = [int(v) for v in values]
    return "".join(map(str, values)) if all(0 <= v < 10 for v in values) else values


def _ids(values: str | list) -> list[int]:
    return [int(v) for v in values]


def write_evidence(summaries: Path, configs: list[Path], folder: Path, metrics: dict[str, list[Path]]) -> None:
    """The findings rule's inputs, as these config files ran it (its tables in ``summaries``, the
    config's folder of them), into ``folder``: the tables it reads, the eval
    predictions of the runs whose metrics.json files ``metrics`` names (by TABLES' runs table name),
    and its parameters."""
    from ..stats.eval_sampling import read_predictions

    config = run_config(configs)
    read = findings_tables(config)
    folder.mkdir(parents=True, exist_ok=True)
    for key in read:
        shutil.copyfile(summaries / "tables" / TABLES[key], folder / TABLES[key])
    metrics = {table: paths for table, paths in metrics.items() if table in read}
    labels, lines = {}, []
    for table, paths in metrics.items():
        for run in read_predictions(paths, PREDICTED_TABLES[table]).to_dict("records"):
            task_labels = run.pop("eval_labels")
            if task_labels is not None:
                known = labels.setdefault(str(run["task"]), _digits(task_labels))
                if known != _digits(task_labels):
                    raise ValueError(f"runs of task {run['task']} were scored on different eval labels")
            predicted = run.pop("eval_predictions")
            lines.append(json.dumps({"table": table, **run, "eval_predictions": None if predicted is None else _digits(predicted)}))
    (folder / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "labels.json").write_text(json.dumps(labels, indent=0) + "\n")
    (folder / "params.json").write_text(json.dumps(findings_params(config), indent=2, sort_keys=True) + "\n")


def read_evidence(folder: Path) -> tuple[dict[str, Path], dict[str, pd.DataFrame], dict]:
    """What write_evidence wrote, as findings_report takes it: (tables, predictions, params)."""
    from ..stats.eval_sampling import prediction_columns

    tables = {key: folder / name for key, name in TABLES.items() if (folder / name).exists()}
    labels = {task: _ids(values) for task, values in json.loads((folder / "labels.json").read_text()).items()}
    rows = {table: [] for table in PREDICTED_TABLES}
    for line in filter(None, (folder / "predictions.jsonl").read_text().splitlines()):
        run = json.loads(line)
        predicted = run["eval_predictions"]
        rows[run.pop("table")].append({**run, "eval_predictions": None if predicted is None else _ids(predicted),
                                       "eval_labels": None if predicted is None else labels[str(run["task"])]})
    predictions = {table: pd.DataFrame(found, columns=prediction_columns(PREDICTED_TABLES[table]))
                   for table, found in rows.items()}
    return tables, predictions, json.loads((folder / "params.json").read_text())


def evidence_report(folder: Path) -> str:
    """The report today's code makes of this evidence."""
    tables, predictions, params = read_evidence(folder)
    return findings_report(tables, predictions, params["seeds"], params["thresholds"])
