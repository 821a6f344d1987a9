"""What ran for a results page, read from a finished results folder, each from where the pipeline
left it (page.py writes them into the page's evidence):

- ``results/<config>/tables/runs.csv``: the finetune runs of this config (a results folder can hold runs of
  other configs too: they are not counted), and ``learned_runs.csv`` where there is one;
- the benchmark files (Snakemake's ``benchmark:``): each job's CPU time, summed (this config's
  finetune and learned runs, wherever they were trained; the other stages' jobs that this config's
  invocations ran);
- ``results/mlflow/mlflow.db``: the git commit and dirty flag this config's runs recorded (matched
  by the fingerprint in each run's metrics.json);
- ``.snakemake/log/`` beside ``results/``: the Snakemake invocations given this config's files (or
  some of them: the fixed design's run that a sequential overlay continues) that ran any job, each
  with its command, start (its log's name) and end (its last job's time stamp), the wall time. Runs
  shared with another config and trained by its invocation count in the CPU time, not the wall time.
"""

from __future__ import annotations

import datetime
import re
import sqlite3
from pathlib import Path

import pandas as pd

LOG_NAME = re.compile(r"^(?P<start>\d{4}-\d{2}-\d{2}T\d{6})\.\d+\.snakemake\.log$")


def recorded_commits(results: Path, fingerprints: set[str] | None = None) -> pd.DataFrame:
    """Runs per (git commit, uncommitted changes) as the tracking store recorded them, only the runs
    whose fingerprint is given (a folder's store holds every config's runs); empty where the config
    ran without tracking."""
    database = results / "mlflow" / "mlflow.db"
    columns = ["commit", "uncommitted changes", "runs"]
    if not database.exists():
        return pd.DataFrame(columns=columns)
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        tags = pd.DataFrame(connection.execute(
            "SELECT run_uuid, key, value FROM tags WHERE key IN ('git_commit', 'git_dirty', 'fingerprint')").fetchall(),
            columns=["run", "key", "value"])
    runs = tags.pivot_table(index="run", columns="key", values="value", aggfunc="first").reindex(
        columns=["git_commit", "git_dirty", "fingerprint"])
    runs = runs[runs["git_commit"].notna()]
    if fingerprints is not None:
        runs = runs[runs["fingerprint"].isin(fingerprints)]
    counted = (runs.assign(git_dirty=runs["git_dirty"].fillna("unknown"))
               .groupby(["git_commit", "git_dirty"]).size().sort_values(ascending=False).reset_index())
    return pd.DataFrame(counted.to_numpy(), columns=columns)


def run_fingerprints(directories: dict[str, list[Path]]) -> set[str]:
    """The fingerprints this config's runs recorded in their metrics.json (their identity)."""
    import json

    found = set()
    for folders in directories.values():
        for folder in folders:
            metrics = folder / "metrics.json"
            if metrics.exists():
                found.add(str(json.loads(metrics.read_text()).get("fingerprint")))
    return found


def _benchmark_seconds(path: Path) -> float:
    table = pd.read_csv(path, sep="\t")
    return float(pd.to_numeric(table["cpu_time"], errors="coerce").fillna(0).sum()) if "cpu_time" in table else 0.0


def run_directories(summaries: Path, checkout: Path) -> dict[str, list[Path]]:
    """This config's run folders in ``checkout``: finetune (runs.csv) and learned
    (learned_runs.csv), as its summaries folder's tables list them."""
    from ..vocabulary import LEARNED_DIR, RUN_DIR

    found = {}
    for kind, table, template in (("finetune", "runs.csv", RUN_DIR), ("learned", "learned_runs.csv", LEARNED_DIR)):
        path = summaries / "tables" / table
        rows = pd.read_csv(path).to_dict("records") if path.exists() else []
        found[kind] = [checkout / template.format(**row) for row in rows]
    return found


def cpu_hours(results: Path, directories: dict[str, list[Path]], benchmarks: set[str] | None = None,
              summaries: Path | None = None) -> dict[str, float]:
    """CPU hours per kind of job: this config's finetune and learned runs, and the other stages'
    jobs: the shared stages' (results/benchmarks/) and this config's summaries' (``summaries``/
    benchmarks/, never another config's), among ``benchmarks`` (their benchmark files, as
    Snakemake's logs name them; all of those two folders where None)."""
    hours = {kind: sum(_benchmark_seconds(d / "benchmark.tsv") for d in folders if (d / "benchmark.tsv").exists()) / 3600
             for kind, folders in directories.items()}
    folders = [results / "benchmarks", *([Path(summaries) / "benchmarks"] if summaries is not None else [])]
    others = [p for folder in folders for p in folder.rglob("*.tsv")
              if benchmarks is None or str(p.relative_to(results.parent)) in benchmarks]
    hours["other stages"] = sum(_benchmark_seconds(p) for p in others) / 3600
    return hours


STAMP = re.compile(r"^\[(?P<stamp>\w{3} \w{3} +\d+ \d{2}:\d{2}:\d{2} \d{4})\]$", flags=re.MULTILINE)


def invocations(checkout: Path, configs: list[Path] | None = None) -> list[dict]:
    """The Snakemake invocations whose log is in the checkout, given these config files (all of
    them or some, compared by name; every invocation where None) and running at least one job:
    start, wall time (to its last time stamp, else the log's last write), command, the benchmark
    files of the jobs it ran."""
    names = {Path(c).name for c in configs} if configs is not None else None
    found = []
    for log in sorted((checkout / ".snakemake" / "log").glob("*.snakemake.log")):
        name = LOG_NAME.match(log.name)
        if not name:
            continue
        text = log.read_text(errors="replace")
        given = re.search(r"^\s*Config file\(s\): \[(?P<files>.*)\]$", text, flags=re.MULTILINE)
        given_names = {Path(f.strip()).name for f in re.findall(r"'([^']+)'", given["files"])} if given else set()
        if names is not None and (not given_names or not given_names <= names):
            continue
        if "Nothing to be done" in text or "Job stats:" not in text:
            continue
        start = datetime.datetime.strptime(name["start"], "%Y-%m-%dT%H%M%S")
        stamps = STAMP.findall(text)
        end = (datetime.datetime.strptime(stamps[-1], "%a %b %d %H:%M:%S %Y") if stamps
               else datetime.datetime.fromtimestamp(log.stat().st_mtime))
        command = re.search(r"^\s*Command: (?P<command>.+)$", text, flags=re.MULTILINE)
        found.append({"start": start, "wall": end - start,
                      "command": command["command"].strip() if command else "",
                      "benchmarks": set(re.findall(r"^\s+benchmark: (\S+)$", text, flags=re.MULTILINE))})
    return found
