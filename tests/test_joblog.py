"""A job's log: the error that ends it, and the peak memory it ends with (read by ./run.sh memory)."""

import subprocess
import sys

from breaking_bert.resources.check import logged_peak

JOB = """
import sys
from breaking_bert.joblog import log_to
log_to(sys.argv[1])
block = bytearray(int(sys.argv[3]) * 2**20)  # touched and freed at once: a 30 s sampler never sees it
del block
if sys.argv[2] == "fail":
    raise ValueError("the job's own error")
"""

# a parent that holds 600 MiB when it starts the job, as Snakemake's process holds its DAG: the
# job's peak must not inherit it (the rusage peak did, across fork and exec)
LARGE_PARENT = """
import subprocess, sys
held = bytearray(600 * 2**20)
sys.exit(subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]]).returncode)
"""


def _run(log, outcome, mib, parent=None):
    job = [sys.executable, "-c", JOB, str(log), outcome, str(mib)]
    command = [sys.executable, "-c", LARGE_PARENT, JOB, str(log), outcome, str(mib)] if parent else job
    return subprocess.run(command, capture_output=True, text=True)


def test_a_job_log_ends_with_the_job_processs_own_peak_even_of_a_brief_allocation(tmp_path):
    for outcome in ("succeed", "fail"):
        log = tmp_path / f"{outcome}.log"
        done = _run(log, outcome, 300)
        assert (done.returncode != 0) == (outcome == "fail")
        lines = log.read_text().splitlines()
        assert lines[-1].startswith("peak resident memory of the job's process (MiB): ")
        assert 300 < logged_peak(log) < 400, lines[-1]
        if outcome == "fail":  # the traceback in the log before the peak, the error on the console
            assert any("ValueError: the job's own error" in line for line in lines[:-1])
            assert "this job's log" in done.stderr


def test_a_jobs_peak_is_its_own_not_its_parents(tmp_path):
    small, large = _run(tmp_path / "small.log", "succeed", 0, parent=True), _run(tmp_path / "large.log", "succeed", 300, parent=True)
    assert small.returncode == 0 and large.returncode == 0, small.stderr + large.stderr
    assert logged_peak(tmp_path / "small.log") < 100, (tmp_path / "small.log").read_text()
    assert 300 < logged_peak(tmp_path / "large.log") < 400


def test_a_log_without_a_peak_line_is_not_measured_and_a_resumed_one_keeps_its_largest(tmp_path):
    (tmp_path / "old.log").write_text("a log from before the peak line\npeak resident memory (MiB): 900 + 800\n")
    assert logged_peak(tmp_path / "old.log") != logged_peak(tmp_path / "old.log")  # NaN
    assert logged_peak(tmp_path / "missing.log") != logged_peak(tmp_path / "missing.log")
    line = "peak resident memory of the job's process (MiB): "
    (tmp_path / "resumed.log").write_text(f"{line}700\nresumed\n{line}650\n{line}12")  # the last one cut short
    assert logged_peak(tmp_path / "resumed.log") == 700
