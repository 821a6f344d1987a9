"""A results page's figures, drawn anew from its run's tables by the code that writes the page, as
the page's report is that code's (evidence.py): a page made from an older run shows
today's figures of the same numbers (a fixed axis, a panel added), never another run's. Which
figures there are is the run's choice (its summaries' ``figures``, results/<name>/figures); a figure the current code would
not make for these tables is left out and named. The mask galleries read the run's masks and
tokens, not a table: they are the run's own, copied.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd

from ..cost import plot_kernel_timing, plot_retained_mass
from ..report.figures import (plot_layer_sweep, plot_learned_degrees, plot_score_by_pattern_and_placement,
                       plot_score_vs_sparsity, vector_copy)
from ..vocabulary import in_pattern_and_placement_chart

LEARNED_DEGREES = "learned_degrees_"


def _table(results: Path, name: str) -> pd.DataFrame | None:
    path = results / name
    return pd.read_csv(path) if path.exists() else None


def redraw(results: Path, folder: Path) -> dict[str, str]:
    """Each PNG of ``results/<config>/figures`` into ``folder``: 'drawn' from the tables, 'copied', or 'left
    out' (no cell of that figure's kind in the tables). Returns figure name -> what was done."""
    summary = _table(results, "tables/summary.csv")
    if summary is None:  # no tables to draw from: the run's figures as they are
        summary = pd.DataFrame(columns=["kind", "placement"])
    learned, windows = _table(results, "tables/learned_summary.csv"), _table(results, "tables/learned_windows.csv")
    retained, timing = _table(results, "tables/retained_mass.csv"), _table(results, "cost/kernel_timing.csv")
    charted = any(map(in_pattern_and_placement_chart, summary["kind"], summary["placement"]))
    drawers = {} if summary.empty else {
        "score_by_pattern_and_placement": (lambda path: plot_score_by_pattern_and_placement(summary, path)) if charted else None,
        "score_vs_sparsity": lambda path: plot_score_vs_sparsity(summary, path, learned),
        "layer_sweep": lambda path: plot_layer_sweep(summary, path),
    }
    # without its table a cost figure is the run's own, copied (None would mean "left out")
    if drawers and retained is not None:
        drawers["retained_mass"] = lambda path: plot_retained_mass(retained, path)
    if drawers and timing is not None:
        drawers["kernel_timing"] = lambda path: plot_kernel_timing(timing, path)
    done = {}
    for figure in sorted((results / "figures").glob("*.png")):
        name, target = figure.stem, folder / figure.name
        draw = drawers.get(name)
        if name.startswith(LEARNED_DEGREES) and windows is not None:
            task = name.removeprefix(LEARNED_DEGREES)
            draw = lambda path, task=task: plot_learned_degrees(windows, task, path)  # noqa: E731
        if draw is None and name in drawers:
            done[name] = "left out"
        elif draw is None:
            shutil.copy2(figure, target)
            done[name] = "copied"
        else:
            draw(target)
            Path(vector_copy(target)).unlink(missing_ok=True)  # the page links PNGs; a paper redraws its own
            done[name] = "drawn"
    return done


def this_commit() -> str:
    """The commit of the code writing the page (its figure code draws), '-dirty' where the library
    or the workflow has uncommitted changes (the pages the tool writes do not count)."""
    here = Path(__file__).parent
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                            cwd=here).stdout.strip() or "unknown"
    changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src", "workflow"], cwd=here.parents[2]).returncode
    return commit + ("-dirty" if changed else "")


def figures_section(figures: dict[str, str], folder: str, commit: str) -> list[str]:
    """The page's figures (``redraw``'s record), linked from ``folder``, saying which were drawn
    anew, by the code of ``commit``, and which were left out."""
    shown = [figure for figure, done in figures.items() if done != "left out"]
    lines = []
    if shown:
        drawn = [figure for figure in shown if figures[figure] == "drawn"]
        lines += ["", "## Figures", ""]
        if drawn:
            lines += [f"Drawn from this run's tables by the code of commit {commit} (when the page was written): "
                      f"{', '.join(drawn)}; the others are the run's own.", ""]
        lines += [f"![{figure}]({folder}/{figure}.png)" for figure in shown]
    left = [figure for figure, done in figures.items() if done == "left out"]
    if left:
        lines += ["", f"Left out: {', '.join(left)} (the run drew it; the code of commit {commit} draws no such figure "
                  "for these tables)."]
    return lines
