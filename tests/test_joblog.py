"""A job's log: the error that ends it, and the peak memory it ends with (read by ./run.sh memory)."""

import subprocess
import sys

from breaking_bert.memory_check import logged_peak

JOB = """
import sys
from breaking_bert.joblog import log_to
log_to(sys.argv[1])
block = bytearray(300 * 2**20)  # 300 MiB touched and freed at once: a 30 s sampler never sees it
del block
if sys.argv[2] == "fail":
    raise ValueError("the job's own error")
"""


def test_a_job_log_ends_with_the_peak_memory_even_of_a_brief_allocation(tmp_path):
    for outcome in ("succeed", "fail"):
        log = tmp_path / f"{outcome}.log"
        done = subprocess.run([sys.executable, "-c", JOB, str(log), outcome], capture_output=True, text=True)
        assert (done.returncode != 0) == (outcome == "fail")
        lines = log.read_text().splitlines()
        assert lines[-1].startswith("peak resident memory (MiB): ")
        assert 300 < logged_peak(log) < 1000, lines[-1]
        if outcome == "fail":  # the traceback in the log before the peak, the error on the console
            assert any("ValueError: the job's own error" in line for line in lines[:-1])
            assert "this job's log" in done.stderr


def test_a_log_without_a_peak_line_is_not_measured(tmp_path):
    (tmp_path / "old.log").write_text("a log from before the peak line\n")
    assert logged_peak(tmp_path / "old.log") != logged_peak(tmp_path / "old.log")  # NaN
    assert logged_peak(tmp_path / "missing.log") != logged_peak(tmp_path / "missing.log")
