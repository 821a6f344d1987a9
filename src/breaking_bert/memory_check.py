"""Did each job stay within the memory its rule declares? (``./run.sh memory [checkout]``)

Snakemake schedules local jobs side by side by ``mem_mb`` and SLURM kills a job that exceeds it,
so a declaration below what a job uses fails on a cluster what passed on a laptop. This reads what
every job declared from Snakemake's own logs (``.snakemake/log/*.snakemake.log``: each job's rule,
benchmark file, log and resources) and what it used: the peak resident memory its job log ends
with (joblog.py: the kernel's peak, the job's own plus its largest child's), else the benchmark
file's ``max_rss`` (sampled every 30 s from ~15 s in: a lower bound), in MiB. It lists per rule the
jobs, the most any declared and used, the jobs over their declaration and those measured by the
benchmark file alone. A job with no ``mem_mb`` is listed as undeclared. The latest log that names
a benchmark file wins (a job rerun with other resources).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

from .joblog import PEAK_MEMORY

JOB = re.compile(r"^(?:local)?(?:rule|checkpoint) (?P<rule>\w+):$")
THIN = 0.9  # a job above this share of its declaration is named: the factors need room

FIELD = re.compile(r"^\s+(?P<key>benchmark|log|resources): (?P<value>.*)$")


def declared_jobs(checkout: Path) -> pd.DataFrame:
    """One row per benchmark file the logs name: rule, benchmark, job log, declared MiB (NaN: none)."""
    jobs = {}
    for log in sorted((checkout / ".snakemake" / "log").glob("*.snakemake.log")):
        rule, benchmark, job_log = None, None, None
        for line in log.read_text(errors="replace").splitlines():
            started = JOB.match(line)
            if started:
                rule, benchmark, job_log = started["rule"], None, None
                continue
            field = FIELD.match(line)
            if not field or rule is None:
                continue
            if field["key"] == "benchmark":
                benchmark = field["value"].strip()
            elif field["key"] == "log":
                job_log = field["value"].split(", ")[0].strip()
            elif benchmark is not None:
                resources = dict(part.split("=", 1) for part in field["value"].split(", ") if "=" in part)
                mib = resources.get("mem_mib") or resources.get("mem_mb")
                jobs[benchmark] = {"rule": rule, "benchmark": benchmark, "log": job_log,
                                   "declared_mib": float(mib) if mib else float("nan")}
    return pd.DataFrame(list(jobs.values()), columns=["rule", "benchmark", "log", "declared_mib"])


def logged_peak(path: Path) -> float:
    """The peak its job log ends with (own + largest child, MiB); NaN where the job wrote none."""
    if not path.exists():
        return float("nan")
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.startswith(PEAK_MEMORY)]
    if not lines:
        return float("nan")
    own, child = lines[-1][len(PEAK_MEMORY):].split(" + ")
    return float(own) + float(child)


def sampled_peak(path: Path) -> float:
    """The benchmark file's max_rss (MiB), NaN where the file is gone."""
    if not path.exists():
        return float("nan")
    return float(pd.to_numeric(pd.read_csv(path, sep="\t")["max_rss"], errors="coerce").max())


def measured(checkout: Path, jobs: pd.DataFrame) -> pd.DataFrame:
    """The jobs with their peak memory: the job log's where it has one, else the benchmark file's
    (``sampled``: True); jobs with neither dropped."""
    logged = [logged_peak(checkout / log) if isinstance(log, str) else float("nan") for log in jobs["log"]]
    sampled = [sampled_peak(checkout / benchmark) for benchmark in jobs["benchmark"]]
    used = [peak if peak == peak else fallback for peak, fallback in zip(logged, sampled)]
    return (jobs.assign(used_mib=used, sampled=[peak != peak for peak in logged])
            .dropna(subset=["used_mib"]))


def per_rule(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, the most declared and used, the jobs over their declaration, the worst one."""
    rows = []
    for rule, group in jobs.groupby("rule"):
        over = group[group["used_mib"] > group["declared_mib"]]
        worst = group.loc[group["used_mib"].idxmax()]
        headroom = 1 - group["used_mib"] / group["declared_mib"]
        rows.append({"rule": rule, "jobs": len(group), "declared MiB (most)": group["declared_mib"].max(),
                     "used MiB (most)": round(float(worst["used_mib"])), "least headroom": f"{headroom.min():.0%}" if headroom.notna().any() else "-",
                     "jobs over": len(over),
                     "undeclared": int(group["declared_mib"].isna().sum()),
                     "sampled only": int(group["sampled"].sum()), "largest": worst["benchmark"]})
    return pd.DataFrame(rows)


def main(checkout: Path) -> int:
    from .tables import to_markdown

    jobs = measured(checkout, declared_jobs(checkout))
    if jobs.empty:
        print(f"no job with a benchmark file in the Snakemake logs of {checkout}", file=sys.stderr)
        return 1
    table = per_rule(jobs)
    print(to_markdown(table, float_format="{:.0f}"))
    thin = [rule for rule, group in jobs.groupby("rule") if (group["used_mib"] > THIN * group["declared_mib"]).any()]
    if thin:  # a job a little larger, or another library version, would fail on a cluster
        print(f"using more than {THIN:.0%} of their declared memory: {', '.join(thin)}")
    over = table[table["jobs over"] > 0]
    if not over.empty:
        print(f"over their declared memory: {', '.join(over['rule'])}")
    return 2 if not over.empty else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
