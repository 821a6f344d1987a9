"""Where a job's messages go: its log file, and the console for the error that ends it.

Snakemake shows a failed script job as ``CalledProcessError ... message: None``; the reason is in
the job's log. So each script sends its stderr to the log and, through this excepthook, prints
the error that ends it to the console as well, with the log's path.

At exit the log's last line is the job's peak resident memory, from the kernel: ``VmHWM`` of the
job's process (/proc/self/status), which starts afresh when Snakemake's shell execs the script (the
rusage peak would not: it inherits the Snakemake process's size, and a child started with fork,
such as ``git``, inherits the job's). Snakemake's benchmark file samples the whole process tree
every 30 s from ~15 s into a job, so it misses a short job's peak, or a long job's brief one, but
sees child processes; ``./run.sh memory`` takes the larger of the two (resources/check.py).
"""

from __future__ import annotations

import atexit
import resource
import sys
import traceback
from pathlib import Path

PEAK_MEMORY = "peak resident memory of the job's process (MiB): "  # then the number, read by resources/check.py


def peak_memory_mib() -> float:
    """The process's peak resident set (VmHWM, KiB in /proc) in MiB; ru_maxrss where /proc has none."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def peak_memory_line() -> str:
    return f"{PEAK_MEMORY}{peak_memory_mib():.0f}"


def log_to(path: str, mode: str = "w") -> None:
    """stderr to ``path`` (mode "a": a resumed job keeps its history); a fatal error to both."""
    console = sys.stderr
    log = sys.stderr = open(path, mode, buffering=1)

    def report(kind, error, trace):
        traceback.print_exception(kind, error, trace)  # the whole traceback: to the log
        if issubclass(kind, SystemExit):  # preemption and plain exits say nothing more
            return
        print(f"\n{kind.__name__}: {error}\n(this job's log: {path})\n", file=console, flush=True)

    sys.excepthook = report
    atexit.register(lambda: log.closed or print(peak_memory_line(), file=log, flush=True))
