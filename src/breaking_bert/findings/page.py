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
import shutil
import sqlite3
import sys
from pathlib import Path

import pandas as pd

from .page_figures import figures_section, redraw, this_commit

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


SCOPE = re.compile(r"^\*\*(?P<verdict>[^*]+)\*\*: (?P<scope>.+)$")


def verdict_scopes(report: str) -> list[str]:
    """Under the summary, what each tested finding's verdict rests on: the first line of its section
    in the report (which cells, how many of them decided which way), word for word."""
    lines, heading = [], None
    for line in report.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif heading and (found := SCOPE.match(line.strip())):
            if found["verdict"] not in ("not tested",):
                lines.append(f"- {heading}: **{found['verdict']}**: {found['scope']}")
            heading = None
    return ["What each verdict rests on (the report's words):", "", *lines, ""] if lines else []


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


def run_directories(results: Path) -> dict[str, list[Path]]:
    """This config's run folders: finetune (runs.csv) and learned (learned_runs.csv)."""
    from ..vocabulary import LEARNED_DIR, RUN_DIR

    found = {}
    for kind, table, template in (("finetune", "runs.csv", RUN_DIR), ("learned", "learned_runs.csv", LEARNED_DIR)):
        path = results / "tables" / table
        rows = pd.read_csv(path).to_dict("records") if path.exists() else []
        found[kind] = [results.parent / template.format(**row) for row in rows]
    return found


def cpu_hours(results: Path, directories: dict[str, list[Path]], benchmarks: set[str] | None = None) -> dict[str, float]:
    """CPU hours per kind of job: this config's finetune and learned runs, and the other stages'
    jobs among ``benchmarks`` (their benchmark files, as Snakemake's logs name them; all in the
    folder where None)."""
    hours = {kind: sum(_benchmark_seconds(d / "benchmark.tsv") for d in folders if (d / "benchmark.tsv").exists()) / 3600
             for kind, folders in directories.items()}
    others = [p for p in (results / "benchmarks").rglob("*.tsv")
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


def rule_now(results: Path, configs: list[Path]) -> list[str]:
    """The verdicts that the decision rule of the code writing the page gives on the same runs,
    against the report's: a page made from an older run says whether the current rule agrees."""
    import yaml

    from ..aggregate import read_runs_table
    from ..stats.eval_sampling import attach_eval_values
    from .report import design_verdicts

    config = {}
    for path in configs:
        config.update(yaml.safe_load(Path(path).read_text()) or {})
    schema = yaml.safe_load((Path(__file__).resolve().parents[3] / "config" / "schema.yaml").read_text())["properties"]
    thresholds = {key: spec["default"] for key, spec in schema["findings"]["properties"].items()}
    thresholds.update(config.get("findings") or {})
    tables = {}
    table_of = {"finetune": "runs.csv", "learned": "learned_runs.csv"}  # run_directories' kinds
    for kind, folders in run_directories(results).items():
        if folders:
            name = table_of[kind]
            tables[name] = attach_eval_values(read_runs_table(results / "tables" / name),
                                              [str(folder / "metrics.json") for folder in folders])
    verdicts = design_verdicts(config.get("seeds", schema["seeds"]["default"]), tables["runs.csv"],
                               tables.get("learned_runs.csv"), thresholds)
    commit = this_commit()
    reported = dict(verdict_tables((results / "findings.md").read_text())[0])
    differ = [f"{v.finding}: the report says {reported.get(v.finding, 'nothing')}, this rule {v.verdict}"
              for v in verdicts if reported.get(v.finding) != v.verdict]
    said = "the same verdicts as the report." if not differ else "other verdicts: " + "; ".join(differ) + "."
    return [f"The decision rule of the code that wrote this page (commit {commit}), applied to the same runs, gives {said}", ""]


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


def render_page(name: str, results: Path, configs: list[Path], figures_folder: str, cores: int = 2,
                figures: dict[str, str] | None = None) -> str:
    """The page's Markdown; ``figures_folder``: where the figures are linked from (relative to the
    page), ``configs``: the config files the run was given, in order; ``figures``: what
    page_figures.redraw did with each (None: the run's own, as they are)."""
    report = (results / "findings.md").read_text()
    (summary,) = verdict_tables(report)[:1] or [[]]
    runs = run_directories(results)
    commits = recorded_commits(results, run_fingerprints(runs))
    walls = invocations(results.parent, configs)
    hours = cpu_hours(results, runs, set().union(*(w["benchmarks"] for w in walls)) if walls else None)
    shown = [_within(Path(c), results.parent) for c in configs]
    command = f"snakemake --cores {cores} --configfile {' '.join(shown)}"
    one_commit = len(commits) == 1 and commits["uncommitted changes"].iloc[0] == "false"
    checkout = (f"git checkout {commits['commit'].iloc[0][:12]}\n" if one_commit
                else "# the runs recorded no single commit without uncommitted changes (What ran)\n")
    lines = [f"# {name}: results", "",
             f"_Generated by `./run.sh page {name} ...` from a finished results folder: every line below comes from "
             "that run's files; nothing is written by hand._", "",
             "| finding | verdict |", "| --- | --- |", *[f"| {finding} | **{verdict}** |" for finding, verdict in summary],
             "", *verdict_scopes(report), *rule_now(results, configs),
             "## How to get the same", "", "```", f"{checkout}{command}", "```", "",
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
        lines.append(f"- Wall time: {_duration(sum((w['wall'] for w in walls), datetime.timedelta()))} over {len(walls)} "
                     "Snakemake invocation(s) given these config files (runs that another config's invocation trained "
                     "count in the CPU time only):")
        lines += [f"  - {w['start']:%Y-%m-%d %H:%M} (the machine's clock), {_duration(w['wall'])}: `{w['command']}`"
                  for w in walls]
    for config, label in zip(configs, shown):
        lines += ["", f"<details><summary>{label}</summary>", "", "```yaml", Path(config).read_text().rstrip(), "```",
                  "", "</details>"]
    if figures is None:
        figures = {f.stem: "the run's" for f in sorted((results / "figures").glob("*.png"))}
    lines += figures_section(figures, figures_folder)
    lines += ["", _demoted(report).rstrip()]
    return "\n".join(lines) + "\n"


def write_page(name: str, results: Path, configs: list[Path], pages: Path) -> Path:
    """docs/results/<name>.md and its figures in docs/results/<name>/ (replacing earlier ones)."""
    figures = pages / name
    if figures.exists():
        shutil.rmtree(figures)
    figures.mkdir(parents=True)
    done = redraw(results, figures)
    page = pages / f"{name}.md"
    page.write_text(render_page(name, results, configs, name, figures=done))
    return page


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: ./run.sh page NAME RESULTS_FOLDER CONFIG [CONFIG...]  (writes docs/results/NAME.md)")
    print(write_page(sys.argv[1], Path(sys.argv[2]), [Path(c) for c in sys.argv[3:]], Path("docs/results")))
