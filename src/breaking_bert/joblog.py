"""Where a job's messages go: its log file, and the console for the error that ends it.

Snakemake shows a failed script job as ``CalledProcessError ... message: None``; the reason is in
the job's log. So each script sends its stderr to the log and, through this excepthook, prints
the error that ends it to the console as well, with the log's path.

At exit the log's last line is the job's peak resident memory, from the kernel (getrusage): the
job's own and its largest waited-for child's. Snakemake's benchmark file samples memory every 30 s
from ~15 s into a job, so it misses a short job's peak, or a long job's brief one; ``./run.sh
memory`` reads this line first (memory_check.py).
"""

from __future__ import annotations

import atexit
import resource
import sys
import traceback

PEAK_MEMORY = "peak resident memory (MiB): "  # then "<own> + <largest child>", read by memory_check


def peak_memory_line() -> str:
    """Linux reports ru_maxrss in KiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return f"{PEAK_MEMORY}{own:.0f} + {child:.0f}"


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
