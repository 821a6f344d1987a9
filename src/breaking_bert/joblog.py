"""Where a job's messages go: its log file, and the console for the error that ends it.

Snakemake shows a failed script job as ``CalledProcessError ... message: None``; the reason is in
the job's log. So each script sends its stderr to the log and, through this excepthook, prints
the error that ends it to the console as well, with the log's path.
"""

from __future__ import annotations

import sys
import traceback


def log_to(path: str, mode: str = "w") -> None:
    """stderr to ``path`` (mode "a": a resumed job keeps its history); a fatal error to both."""
    console = sys.stderr
    sys.stderr = open(path, mode, buffering=1)

    def report(kind, error, trace):
        traceback.print_exception(kind, error, trace)  # the whole traceback: to the log
        if issubclass(kind, SystemExit):  # preemption and plain exits say nothing more
            return
        print(f"\n{kind.__name__}: {error}\n(this job's log: {path})\n", file=console, flush=True)

    sys.excepthook = report
