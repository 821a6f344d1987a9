"""An experiment's results page, generated from its finished results folder (``./run.sh page``):
what ran (the config, the commits its runs recorded, the jobs, the CPU time and the wall time), the
verdicts and every cell's interval exactly as the findings report prints them, the figures, and
the command that reproduces it. Nothing on the page is written by hand, so nothing on it can say
more than the verdicts: the summary at the top is the report's own verdict table, and
``verdict_tables`` lets a test hold every committed page to it.

What the page reads, each from where the pipeline left it:

- ``results/findings.md``: the report, set in whole below the summary (its headings one level down);
- ``results/tables/runs.csv``: the finetune runs of this config (a results folder can hold runs of
  other configs too: they are not counted), and ``learned_runs.csv`` where there is one;
- the benchmark files (Snakemake's ``benchmark:``): each job's CPU time, summed (this config's
  finetune and learned runs; every other stage's file in the folder);
- ``results/mlflow/mlflow.db``: the git commit and dirty flag every run recorded;
- ``.snakemake/log/`` beside ``results/``: each Snakemake invocation's start (its log's name) and
  end (the log's last write), the wall time.
"""

from __future__ import annotations

import datetime
import re
import shutil
import sqlite3
import sys
from pathlib import Path

import pandas as pd

VERDICT_ROW = re.compile(r"^\| (?P<finding>.+?) \| \*\*(?P<verdict>[^*]+)\*\* \|$")
LOG_NAME = re.compile(r"^(?P<start>\d{4}-\d{2}-\d{2}T\d{6})\.\d+\.snakemake\.log$")


def verdict_tables(text: str) -> list[list[tuple[str, str]]]:
    """Every table of (finding, verdict) rows in a Markdown text, in order: a page has its summary's
    and the report's, which must agree."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        found = VERDICT_ROW.match(line.strip())
        if found:
            current.append((found["finding"], found["verdict"]))
        elif current:
            tables.append(current)
            current = []
    return tables


def recorded_commits(results: Path) -> pd.DataFrame:
    """Runs per (git commit, uncommitted changes) as the tracking store recorded them; empty where
    the config ran without tracking."""
    database = results / "mlflow" / "mlflow.db"
    if not database.exists():
        return pd.DataFrame(columns=["commit", "uncommitted changes", "runs"])
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT c.value, COALESCE(d.value, 'unknown'), COUNT(*) FROM tags c LEFT JOIN tags d "
            "ON d.run_uuid = c.run_uuid AND d.key = 'git_dirty' WHERE c.key = 'git_commit' "
            "GROUP BY c.value, d.value ORDER BY COUNT(*) DESC").fetchall()
    return pd.DataFrame(rows, columns=["commit", "uncommitted changes", "runs"])


def _benchmark_seconds(path: Path) -> float:
    table = pd.read_csv(path, sep="\t")
    return float(pd.to_numeric(table["cpu_time"], errors="coerce").fillna(0).sum()) if "cpu_time" in table else 0.0


def run_directories(results: Path) -> dict[str, list[Path]]:
    """This config's run folders: finetune (runs.csv) and learned (learned_runs.csv)."""
    from ..vocabulary import LEARNED_DIR, RUN_DIR

    found = {}
    for kind, table, template in (("finetune", "runs.csv", RUN_DIR), ("learned", "learned_runs.csv", LEARNED_DIR)):
        path = results / "tables" / table
        rows = pd.read_csv(path).to_dict("records") if path.exists() else []
        found[kind] = [results.parent / template.format(**row) for row in rows]
    return found


def cpu_hours(results: Path) -> dict[str, float]:
    """CPU hours per kind of job: this config's finetune and learned runs, and every other stage's
    benchmark file in the folder."""
    hours = {kind: sum(_benchmark_seconds(d / "benchmark.tsv") for d in directories if (d / "benchmark.tsv").exists()) / 3600
             for kind, directories in run_directories(results).items()}
    hours["other stages"] = sum(_benchmark_seconds(p) for p in (results / "benchmarks").rglob("*.tsv")) / 3600
    return hours


def invocations(checkout: Path) -> list[tuple[datetime.datetime, datetime.timedelta]]:
    """(start, wall time) of each Snakemake invocation whose log is in the checkout."""
    found = []
    for log in sorted((checkout / ".snakemake" / "log").glob("*.snakemake.log")):
        name = LOG_NAME.match(log.name)
        if not name:
            continue
        start = datetime.datetime.strptime(name["start"], "%Y-%m-%dT%H%M%S")
        end = datetime.datetime.fromtimestamp(log.stat().st_mtime)
        found.append((start, end - start))
    return found


def _within(path: Path, checkout: Path) -> str:
    """A config's path as the checkout that ran it names it (config/...), else as given."""
    try:
        return str(path.resolve().relative_to(checkout.resolve()))
    except ValueError:
        return str(path)


def _duration(delta: datetime.timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _demoted(report: str) -> str:
    """The report's headings one level down (its '# Findings' becomes a section of the page)."""
    return re.sub(r"^(#+) ", lambda m: "#" + m[1] + " ", report, flags=re.MULTILINE)


def render_page(name: str, results: Path, configs: list[Path], figures_folder: str, cores: int = 2) -> str:
    """The page's Markdown; ``figures_folder``: where the figures are linked from (relative to the
    page), ``configs``: the config files the run was given, in order."""
    report = (results / "findings.md").read_text()
    (summary,) = verdict_tables(report)[:1] or [[]]
    commits = recorded_commits(results)
    runs = run_directories(results)
    hours = cpu_hours(results)
    walls = invocations(results.parent)
    shown = [_within(Path(c), results.parent) for c in configs]
    command = f"snakemake --cores {cores} --configfile {' '.join(shown)}"
    checkout = (f"git checkout {commits['commit'].iloc[0][:12]}\n" if len(commits) == 1 else "")
    lines = [f"# {name}: results", "",
             f"_Generated by `./run.sh page {name} ...` from a finished results folder: every line below comes from "
             "that run's files; nothing is written by hand._", "",
             "| finding | verdict |", "| --- | --- |", *[f"| {finding} | **{verdict}** |" for finding, verdict in summary],
             "", "## How to get the same", "", "```", f"{checkout}{command}", "```", "",
             "## What ran", ""]
    if commits.empty:
        lines.append("- Code: no commit recorded (the config ran without tracking).")
    else:
        lines.append("- Code, as each run recorded it (MLflow tags `git_commit`, `git_dirty`):")
        dirty = {"true": "with uncommitted changes", "false": "without uncommitted changes"}
        lines += [f"  - `{commit}` ({dirty.get(flag, 'uncommitted changes unknown')}): {count} runs"
                  for commit, flag, count in commits.itertuples(index=False)]
    lines.append(f"- Runs: {len(runs['finetune'])} finetunes" + (f", {len(runs['learned'])} learned" if runs["learned"] else ""))
    lines.append("- CPU time (Snakemake's benchmark files, summed): " + ", ".join(
        f"{kind} {value:.2f} h" for kind, value in hours.items() if value) + f"; {sum(hours.values()):.2f} h in all")
    if walls:
        lines.append(f"- Wall time: {_duration(sum((w for _, w in walls), datetime.timedelta()))} over {len(walls)} "
                     "Snakemake invocation(s) (" + ", ".join(f"{s:%Y-%m-%d %H:%M} {_duration(w)}" for s, w in walls) + ")")
    for config, label in zip(configs, shown):
        lines += ["", f"<details><summary>{label}</summary>", "", "```yaml", Path(config).read_text().rstrip(), "```",
                  "", "</details>"]
    figures = sorted((results / "figures").glob("*.png"))
    if figures:
        lines += ["", "## Figures", ""] + [f"![{f.stem}]({figures_folder}/{f.name})" for f in figures]
    lines += ["", _demoted(report).rstrip()]
    return "\n".join(lines) + "\n"


def write_page(name: str, results: Path, configs: list[Path], pages: Path) -> Path:
    """docs/results/<name>.md and its figures in docs/results/<name>/ (replacing earlier ones)."""
    figures = pages / name
    if figures.exists():
        shutil.rmtree(figures)
    figures.mkdir(parents=True)
    for figure in (results / "figures").glob("*.png"):
        shutil.copy2(figure, figures / figure.name)
    page = pages / f"{name}.md"
    page.write_text(render_page(name, results, configs, name))
    return page


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: ./run.sh page NAME RESULTS_FOLDER CONFIG [CONFIG...]  (writes docs/results/NAME.md)")
    print(write_page(sys.argv[1], Path(sys.argv[2]), [Path(c) for c in sys.argv[3:]], Path("docs/results")))
