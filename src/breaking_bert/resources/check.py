"""Did each job stay within the memory and time its rule declares? (``./run.sh memory [checkout]``)

Snakemake schedules local jobs side by side by ``mem_mb`` and SLURM kills a job that exceeds it,
so a declaration below what a job uses fails on a cluster what passed on a laptop. This reads what
every job declared from Snakemake's own logs (``.snakemake/log/*.snakemake.log``: each job's rule,
benchmark file, log and resources) and what it used, in MiB: the larger of the peak its job log
ends with (joblog.py: the kernel's ``VmHWM`` of the job's process, exact but blind to child
processes) and its benchmark file's ``max_rss`` (the whole process tree, sampled every 30 s from
~15 s in: a lower bound). It lists per rule the jobs, the most any declared and used, the least
headroom, the jobs over their declaration, those measured by samples alone and those not measured
at all (killed before writing either), and names the rules whose jobs come near their declaration:
above 90% of it, or within ``SLURM_OVERHEAD_MIB`` of it, which a SLURM job's cgroup also holds (the
batch shell, the job step's Snakemake processes and srun). A job with no ``mem_mb`` is listed as
undeclared. The latest log that names a benchmark file wins (a job rerun with other resources).
Time the same way: a rule's ``runtime`` (minutes; SLURM ends a job that outlasts it) against the
wall time its benchmark file records.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

from ..joblog import PEAK_MEMORY

JOB = re.compile(r"^(?:local)?(?:rule|checkpoint) (?P<rule>\w+):$")
THIN = 0.9  # a job above this share of its declaration is named: the factors need room
SLURM_OVERHEAD_MIB = 300  # what a SLURM job's cgroup holds besides the script (two Snakemake processes: ~144 MiB each)

FIELD = re.compile(r"^\s+(?P<key>benchmark|log|resources): (?P<value>.*)$")
FAILED = re.compile(r"^Error in rule (?P<rule>\w+):$")


def _started(log: Path) -> float:
    """When a Snakemake invocation started: its log's name (``2026-12-04T162706.637131.snakemake.log``,
    local time), else 0 (every file counts)."""
    import datetime

    try:
        return datetime.datetime.strptime(log.name.split(".snakemake")[0], "%Y-%m-%dT%H%M%S.%f").timestamp()
    except ValueError:
        return 0.0


def declared_jobs(checkout: Path) -> pd.DataFrame:
    """One row per benchmark file the logs name: rule, benchmark, job log, declared MiB (NaN: none),
    when its Snakemake invocation started (``since``: files older than that are an earlier run's)
    and whether the log reports it failed (``failed``: its error block names its job log)."""
    jobs = {}
    for log in sorted((checkout / ".snakemake" / "log").glob("*.snakemake.log")):
        rule, benchmark, job_log, since = None, None, None, _started(log)
        in_error = False  # inside an error block, whose fields name a failed job and declare nothing
        for line in log.read_text(errors="replace").splitlines():
            started = JOB.match(line)
            if started or FAILED.match(line):
                in_error = not started
                rule, benchmark, job_log = (started["rule"] if started else None), None, None
                continue
            field = FIELD.match(line)
            if in_error and field and field["key"] == "log":
                failed_log = field["value"].split(" (check")[0].split(", ")[0].strip()
                for job in jobs.values():
                    if job["log"] == failed_log:
                        job["failed"] = True
                continue
            if not field or rule is None:
                continue
            if field["key"] == "benchmark":
                benchmark = field["value"].strip()
            elif field["key"] == "log":
                job_log = field["value"].split(", ")[0].strip()
            elif benchmark is not None:
                resources = dict(part.split("=", 1) for part in field["value"].split(", ") if "=" in part)
                mib = (float(resources["mem_mib"]) if "mem_mib" in resources
                       else float(resources["mem_mb"]) * 1e6 / 2**20 if "mem_mb" in resources else float("nan"))
                minutes = float(resources["runtime"]) if resources.get("runtime", "").isdigit() else float("nan")
                jobs[benchmark] = {"rule": rule, "benchmark": benchmark, "log": job_log, "declared_mib": mib,
                                   "declared_min": minutes, "since": since, "failed": False}
    return pd.DataFrame(list(jobs.values()),
                        columns=["rule", "benchmark", "log", "declared_mib", "declared_min", "since", "failed"])


def logged_peak(path: Path) -> float:
    """The largest peak its job log records (a resumed job's log holds one line per attempt), MiB;
    NaN where the job wrote none (killed, or from before the line existed)."""
    if not path.exists():
        return float("nan")
    peaks = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(PEAK_MEMORY):
            try:
                peaks.append(float(line[len(PEAK_MEMORY):]))
            except ValueError:
                continue  # a line cut short by a killed job
    return max(peaks) if peaks else float("nan")


def benchmarked(path: Path, column: str) -> float:
    """The largest value of a benchmark file's column (``max_rss``: MiB, ``s``: wall seconds), NaN
    where the file is gone."""
    if not path.exists():
        return float("nan")
    return float(pd.to_numeric(pd.read_csv(path, sep="\t")[column], errors="coerce").max())


def sampled_peak(path: Path) -> float:
    """The benchmark file's max_rss (MiB), NaN where the file is gone."""
    return benchmarked(path, "max_rss")


def _fresh(path: Path, since: float) -> Path:
    """``path``, or a path that does not exist where the file is older than the invocation that
    last ran its job: a job killed before writing leaves an earlier run's benchmark file behind."""
    return path if path.exists() and path.stat().st_mtime >= since - 1 else path / "stale"


def measured(checkout: Path, jobs: pd.DataFrame) -> pd.DataFrame:
    """The jobs with their peak memory (``used_mib``: the larger of the job log's and the benchmark
    file's; ``sampled``: the benchmark file's alone; NaN: neither, or only an earlier run's files),
    a failed job unmeasured whatever its files hold."""
    logged = [logged_peak(_fresh(checkout / log, since)) if isinstance(log, str) and not failed else float("nan")
              for log, since, failed in zip(jobs["log"], jobs["since"], jobs["failed"])]
    sampled = [sampled_peak(_fresh(checkout / benchmark, since)) if not failed else float("nan")
               for benchmark, since, failed in zip(jobs["benchmark"], jobs["since"], jobs["failed"])]
    used = [max(a, b) if a == a and b == b else (a if a == a else b) for a, b in zip(logged, sampled)]
    wall = [benchmarked(_fresh(checkout / benchmark, since), "s") / 60 for benchmark, since in zip(jobs["benchmark"], jobs["since"])]
    return jobs.assign(used_mib=used, sampled=[peak != peak for peak in logged], wall_min=wall)


def near_declaration(used: pd.Series, declared: pd.Series) -> pd.Series:
    """Jobs that come near their declaration: above THIN of it, or within SLURM_OVERHEAD_MIB of it."""
    return (used > THIN * declared) | (used + SLURM_OVERHEAD_MIB > declared)


def per_rule(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, the most memory declared and used, the least headroom, the jobs over and near
    their declaration, measured by samples alone and not measured, the largest; the longest runtime
    declared and wall time taken, and the jobs that took longer than they declared."""
    rows = []
    for rule, group in jobs.groupby("rule"):
        measured_jobs = group.dropna(subset=["used_mib"])
        worst = measured_jobs.loc[measured_jobs["used_mib"].idxmax()] if len(measured_jobs) else None
        headroom = 1 - measured_jobs["used_mib"] / measured_jobs["declared_mib"]
        rows.append({"rule": rule, "jobs": len(group), "declared MiB (most)": group["declared_mib"].max(),
                     "used MiB (most)": round(float(worst["used_mib"])) if worst is not None else float("nan"),
                     "least headroom": f"{headroom.min():.0%}" if headroom.notna().any() else "-",
                     "jobs over": int((measured_jobs["used_mib"] > measured_jobs["declared_mib"]).sum()),
                     "jobs near": int(near_declaration(measured_jobs["used_mib"], measured_jobs["declared_mib"]).sum()),
                     "undeclared": int(group["declared_mib"].isna().sum()),
                     "sampled only": int((measured_jobs["sampled"]).sum()),
                     "unmeasured": int(group["used_mib"].isna().sum()),
                     "runtime min (most)": group["declared_min"].max(),
                     "wall min (most)": round(float(group["wall_min"].max()), 1),
                     "jobs past runtime": int((group["wall_min"] > group["declared_min"]).sum()),
                     "largest": worst["benchmark"] if worst is not None else "-"})
    return pd.DataFrame(rows)


def main(checkout: Path, slurm: bool = False) -> int:
    """Prints the table. Exit status 2 if a job went over its declared memory or runtime (with
    ``slurm``: or came within the SLURM_OVERHEAD_MIB a SLURM job's cgroup also holds, or above THIN
    of it), 3 if a job has no measurement (killed before its log's last line: out of memory? or
    still running), 1 if no job was found, else 0."""
    from ..tables import to_markdown

    jobs = measured(checkout, declared_jobs(checkout))
    if jobs.empty:
        print(f"no job with a benchmark file in the Snakemake logs of {checkout}", file=sys.stderr)
        return 1
    table = per_rule(jobs)
    print(to_markdown(table, float_format="{:.0f}"))
    near = table[table["jobs near"] > 0]
    if not near.empty:  # a job a little larger, another library version or a SLURM cgroup would fail it
        print(f"near their declared memory (above {THIN:.0%}, or within the {SLURM_OVERHEAD_MIB} MiB a SLURM job "
              f"also holds): {', '.join(near['rule'])}")
    unmeasured = table[table["unmeasured"] > 0]
    if not unmeasured.empty:
        print(f"jobs with no measurement of their last run (failed, or killed before their log's last line: out of "
              f"memory? or still running): "
              f"{', '.join(f'{r.rule} ({r.unmeasured})' for r in unmeasured.itertuples())}")
    over = table[table["jobs over"] > 0]
    if not over.empty:
        print(f"over their declared memory: {', '.join(over['rule'])}")
    late = table[table["jobs past runtime"] > 0]
    if not late.empty:
        print(f"past their declared runtime: {', '.join(late['rule'])}")
    if not (over.empty and late.empty) or (slurm and not near.empty):
        return 2
    return 3 if not unmeasured.empty else 0


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--slurm"]
    sys.exit(main(Path(arguments[0] if arguments else "."), slurm="--slurm" in sys.argv[1:]))
