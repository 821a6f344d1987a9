"""./run.sh memory's verdicts on a run it reads from Snakemake's log, the job logs and the benchmark
files (resources/check.py): what fails it, with the files written as Snakemake and joblog write them."""

from pathlib import Path

import pytest

from breaking_bert.joblog import PEAK_MEMORY
from breaking_bert.resources.check import main

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def run_folder(tmp_path: Path, jobs: list[dict]) -> Path:
    """A finished run: per job its Snakemake log entry, and (where given) its log's peak line and
    its benchmark file's wall time and sampled peak."""
    entries = []
    for index, job in enumerate(jobs):
        benchmark, log = f"results/benchmarks/{index}.tsv", f"results/logs/{index}.log"
        resources = f"tmpdir=/tmp, mem_mb={job['mem_mb']}, mem_mib={round(job['mem_mb'] * 1e6 / 2**20)}"
        resources += f", runtime={job['runtime']}" if "runtime" in job else ""
        entries.append(f"rule {job['rule']}:\n    log: {log}\n    jobid: {index}\n    benchmark: {benchmark}\n"
                       f"    resources: {resources}\n")
        if "peak" in job:
            (tmp_path / log).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / log).write_text(f"working\n{PEAK_MEMORY}{job['peak']}\n")
        if "wall" in job:
            (tmp_path / benchmark).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / benchmark).write_text(HEADER + f"{job['wall']}\t0:00:01\t{job.get('rss', 100)}\t0\t0\t0\t0\t0\t0\t0\n")
    (tmp_path / ".snakemake/log").mkdir(parents=True)
    (tmp_path / ".snakemake/log/2026-12-04T000000.000000.snakemake.log").write_text("\n".join(entries))
    return tmp_path


FINE = {"rule": "masks", "mem_mb": 2000, "runtime": 30, "peak": 800, "wall": 60}


def test_a_run_within_its_declarations_passes(tmp_path):
    assert main(run_folder(tmp_path, [FINE, {**FINE, "rule": "parse"}])) == 0


@pytest.mark.parametrize("job", [
    {**FINE, "peak": 1950},  # over its 1,907 MiB
    {**FINE, "peak": 500, "rss": 2100},  # the benchmark's samples saw more than the job's own log
    {**FINE, "wall": 31 * 60},  # past its 30 minutes
], ids=["memory", "sampled-memory", "runtime"])
def test_a_job_over_its_declared_memory_or_runtime_fails_the_check(tmp_path, job):
    assert main(run_folder(tmp_path, [FINE, job])) == 2


def test_a_job_killed_before_its_measurement_fails_and_a_near_one_fails_for_slurm(tmp_path):
    killed = {"rule": "finetune", "mem_mb": 3000, "runtime": 20}  # no peak line, no benchmark file
    assert main(run_folder(tmp_path / "killed", [FINE, killed])) == 3
    near = {**FINE, "peak": 1700}  # within 300 MiB of its 1,907: a SLURM job's cgroup also holds its Snakemake
    assert main(run_folder(tmp_path / "near", [FINE, near])) == 0
    assert main(run_folder(tmp_path / "near-slurm", [FINE, near]), slurm=True) == 2


def test_a_failed_job_or_an_earlier_runs_files_are_no_measurement(tmp_path):
    """A job whose last run failed, or whose benchmark file and log are older than the invocation
    that ran it last (a rerun killed before writing them: Snakemake keeps the old benchmark file),
    is unmeasured, whatever those files say."""
    import os

    folder = run_folder(tmp_path / "failed", [FINE, {**FINE, "rule": "parse"}])
    log = folder / ".snakemake/log/2026-12-04T000000.000000.snakemake.log"
    log.write_text(log.read_text() + "\nError in rule parse:\n    message: None\n    jobid: 1\n"
                   "    log: results/logs/1.log (check log file(s) for error details)\n")
    assert main(folder) == 3
    stale = run_folder(tmp_path / "stale", [FINE, {**FINE, "rule": "parse"}])
    earlier = 1_700_000_000  # 2023: before the invocation the log's name dates
    for path in (stale / "results/benchmarks/1.tsv", stale / "results/logs/1.log"):
        os.utime(path, (earlier, earlier))
    assert main(stale) == 3
    assert main(run_folder(tmp_path / "fresh", [FINE, {**FINE, "rule": "parse"}])) == 0


def test_a_job_above_nine_tenths_of_a_large_declaration_is_near_for_slurm(tmp_path):
    large = {**FINE, "mem_mb": 10_000, "peak": 8_700}  # 91% of 9,537 MiB, 837 MiB below it
    assert main(run_folder(tmp_path / "local", [FINE, large])) == 0
    assert main(run_folder(tmp_path / "slurm", [FINE, large]), slurm=True) == 2
