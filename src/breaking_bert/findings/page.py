"""An experiment's results page (``./run.sh page``): what ran (the config, the commits its runs
recorded, the jobs, the CPU time and the wall time), the verdicts and every cell's interval as the
findings report prints them, the figures, and the command that reproduces it. Nothing on the page
is written by hand, so nothing on it can say more than the verdicts: the summary at the top is the
report's own verdict table, and ``verdict_tables`` lets a test hold every page to it.

A page is made in two steps. ``write_page`` reads a finished results folder: it draws the figures
(page_figures.py) and writes the run's *evidence* beside the page (``docs/results/<name>/evidence/``):
the findings rule's inputs (evidence.py) and what ran (run_facts.py) as ``page.json``.
``render_page`` then makes the page from the evidence alone, its report by today's code: so the
tests re-make every committed page and compare, and ``./run.sh page refresh`` makes them again
after a change to the report's code, without the results folders. The page also says whether the
run's own report (its results/<config>/findings.md, by the code that ran) gave the same verdicts.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import sys
from pathlib import Path

from ..layout import summaries_folder
from .evidence import CHECKOUT, evidence_report, run_config, write_evidence
from .page_figures import figures_section, redraw, this_commit
from .run_facts import cpu_hours, invocations, recorded_commits, run_directories, run_fingerprints

RUN_REPORT = "run_findings.md"  # the run's own report, verbatim, in its evidence

VERDICT_ROW = re.compile(r"^\| (?P<finding>.+?) \| \*\*(?P<verdict>[^*]+)\*\* \|$")


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


def summaries_of(results: Path, configs: list[Path]) -> Path:
    """The folder of these configs' own tables, figures and report in ``results``
    (breaking_bert.layout, as the workflow names it: files without tasks go over the Snakefile's
    default config, which Snakemake then reads after them)."""
    given = run_config(configs, defaults=False, fallback=False)
    read = list(configs) if "tasks" in given else [*configs, CHECKOUT / "config" / "config.yaml"]
    return Path(summaries_folder(given, read, results))


def run_facts(results: Path, configs: list[Path], runs: dict[str, list[Path]], cores: int = 2) -> dict:
    """What ran, for page.json: the commits the runs recorded, the runs (run_facts.run_directories'),
    CPU hours, the Snakemake invocations, and the configs as the checkout names them."""
    commits = recorded_commits(results, run_fingerprints(runs))
    walls = invocations(results.parent, configs)
    hours = cpu_hours(results, runs, set().union(*(w["benchmarks"] for w in walls)) if walls else None,
                      summaries_of(results, configs))
    return {"commits": commits.values.tolist(), "runs": {kind: len(folders) for kind, folders in runs.items()},
            "cpu_hours": hours, "cores": cores,
            "invocations": [{"start": f"{w['start']:%Y-%m-%d %H:%M}", "wall_s": w["wall"].total_seconds(),
                             "command": w["command"]} for w in walls],
            "configs": [{"label": _within(Path(c), results.parent), "text": Path(c).read_text()} for c in configs]}


def _run_report_line(run_report: str, report: str) -> list[str]:
    """Whether the run's own report (kept verbatim in the evidence) gave the verdicts that today's
    code gives on its evidence, finding by finding, either side's."""
    now, ran = (dict((verdict_tables(text) or [[]])[0]) for text in (report, run_report))
    differ = [f"{finding}: the run's report said {ran.get(finding, 'nothing')}, today's code says {now.get(finding, 'nothing')}"
              for finding in [*now, *(f for f in ran if f not in now)] if ran.get(finding) != now.get(finding)]
    said = "the same verdicts." if not differ else "other verdicts: " + "; ".join(differ) + "."
    return ["The report below is the one today's code makes of this run's evidence (the findings rule's inputs, "
            "committed beside this page); the run's own report, by the code that ran it, gave " + said, ""]


def same_sequential_rule(run_report: str, report: str, name: str) -> None:
    """A sequential design's run chose which seeds to run by its own rule: a page whose rule (its
    looks, levels or words) is no longer today's would judge cells on seeds another rule gave them.
    Such a page is rerun, not refreshed."""
    ran, now = ([line for line in text.splitlines() if line.startswith("Sequential design: ")] for text in (run_report, report))
    if ran != now:
        raise ValueError(f"{name}: the sequential design's rule is not the one that chose this run's seeds; rerun the "
                         "experiment and write its page again (./run.sh page), a refresh would replay the looks on them")


def render_page(name: str, evidence: Path, figures_folder: str) -> str:
    """The page's Markdown from its evidence folder (write_page); ``figures_folder``: where the
    figures are linked from (relative to the page)."""
    facts = json.loads((evidence / "page.json").read_text())
    report, run_report = evidence_report(evidence), (evidence / RUN_REPORT).read_text()
    same_sequential_rule(run_report, report, name)
    (summary,) = verdict_tables(report)[:1] or [[]]
    shown = [config["label"] for config in facts["configs"]]
    command = f"snakemake --cores {facts['cores']} --configfile {' '.join(shown)}"
    commits = facts["commits"]
    one_commit = len(commits) == 1 and commits[0][1] == "false"
    checkout = (f"git checkout {commits[0][0][:12]}\n" if one_commit
                else "# the runs recorded no single commit without uncommitted changes (What ran)\n")
    lines = [f"# {name}: results", "",
             f"_Generated by `./run.sh page {name} ...` from a finished run's files, kept in `{name}/evidence/`; the "
             "report is the one the code of this checkout makes of them (`./run.sh page refresh`). Nothing is "
             "written by hand._", "",
             "| finding | verdict |", "| --- | --- |", *[f"| {finding} | **{verdict}** |" for finding, verdict in summary],
             "", *verdict_scopes(report), *_run_report_line(run_report, report),
             "## How to get the same", "", "The runs, and the run's own report:", "", "```", f"{checkout}{command}", "```",
             "", f"then, back on a checkout of this code, this page: `./run.sh page {name} results {' '.join(shown)}`.", "",
             "## What ran", ""]
    if not commits:
        lines.append("- Code: no commit recorded (the config ran without tracking).")
    else:
        lines.append("- Code, as each run recorded it (MLflow tags `git_commit`, `git_dirty`):")
        dirty = {"true": "with uncommitted changes", "false": "without uncommitted changes"}
        lines += [f"  - `{commit}` ({dirty.get(flag, 'uncommitted changes unknown')}): {count} runs"
                  for commit, flag, count in commits]
    runs = facts["runs"]
    lines.append(f"- Runs: {runs['finetune']} finetunes" + (f", {runs['learned']} learned" if runs.get("learned") else ""))
    hours = facts["cpu_hours"]
    lines.append("- CPU time (Snakemake's benchmark files, summed): " + ", ".join(
        f"{kind} {value:.2f} h" for kind, value in hours.items() if value) + f"; {sum(hours.values()):.2f} h in all")
    walls = facts["invocations"]
    if walls:
        total = datetime.timedelta(seconds=sum(w["wall_s"] for w in walls))
        lines.append(f"- Wall time: {_duration(total)} over {len(walls)} "
                     "Snakemake invocation(s) given these config files (runs that another config's invocation trained "
                     "count in the CPU time only):")
        lines += [f"  - {w['start']} (the machine's clock), {_duration(datetime.timedelta(seconds=w['wall_s']))}: "
                  f"`{w['command']}`" for w in walls]
    for config in facts["configs"]:
        lines += ["", f"<details><summary>{config['label']}</summary>", "", "```yaml", config["text"].rstrip(), "```",
                  "", "</details>"]
    lines += figures_section(facts["figures"], figures_folder, facts["written_by"])
    lines += ["", _demoted(report).rstrip()]
    return "\n".join(lines) + "\n"


def write_page(name: str, results: Path, configs: list[Path], pages: Path) -> Path:
    """docs/results/<name>.md, its figures in docs/results/<name>/ and its evidence in
    docs/results/<name>/evidence/ (replacing earlier ones)."""
    written_by = this_commit()  # before this writes anything
    folder = pages / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    summaries = summaries_of(results, configs)
    figures = redraw(summaries, folder)
    evidence = folder / "evidence"
    runs = run_directories(summaries, results.parent)
    write_evidence(summaries, configs, evidence, {"runs": [d / "metrics.json" for d in runs["finetune"]],
                                                  "learned_runs": [d / "metrics.json" for d in runs["learned"]]})
    shutil.copyfile(summaries / "findings.md", evidence / RUN_REPORT)
    facts = {**run_facts(results, configs, runs), "figures": figures, "written_by": written_by}
    (evidence / "page.json").write_text(json.dumps(facts, indent=1) + "\n")
    page = pages / f"{name}.md"
    page.write_text(render_page(name, evidence, name))
    return page


def refresh_pages(pages: Path) -> list[Path]:
    """Every page in ``pages`` made again from its evidence by today's code (figures as they are)."""
    made = []
    for evidence in sorted(pages.glob("*/evidence")):
        name = evidence.parent.name
        (pages / f"{name}.md").write_text(render_page(name, evidence, name))
        made.append(pages / f"{name}.md")
    return made


if __name__ == "__main__":
    if sys.argv[1:2] == ["refresh"]:
        print(*refresh_pages(Path("docs/results")), sep="\n")
    elif len(sys.argv) < 4:
        sys.exit("usage: ./run.sh page NAME RESULTS_FOLDER CONFIG [CONFIG...]  (writes docs/results/NAME.md)\n"
                 "       ./run.sh page refresh  (every page again from its evidence, by today's code)")
    else:
        print(write_page(sys.argv[1], Path(sys.argv[2]), [Path(c) for c in sys.argv[3:]], Path("docs/results")))
