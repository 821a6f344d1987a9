"""Tables on the ground floor: each run's metrics.json read into columns, and GitHub-flavoured
Markdown with the project's cell conventions. Every stage that writes a table (aggregate, the
eval-sampling statistics, the findings, the calibration, the memory check) reads and writes through
here, so no statistics module reaches up into a stage for them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def read_metrics(metrics_paths, columns, derive=lambda metrics: {}) -> pd.DataFrame:
    """One row per metrics.json: its values of ``columns``, those ``derive`` returns computed from it."""
    rows = []
    for path in metrics_paths:
        metrics = json.loads(Path(path).read_text())
        rows.append({**{column: metrics.get(column) for column in columns}, **derive(metrics)})
    return pd.DataFrame(rows, columns=columns)


def to_markdown(frame: pd.DataFrame, float_format: str = "{:.4f}") -> str:
    """A GitHub-flavoured Markdown table (no optional dependency on tabulate)."""
    if frame.empty:
        return "_no rows_\n"
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell_text(v, float_format) for v in row) + " |")
    return "\n".join(lines) + "\n"


def cell_text(value, float_format: str) -> str:
    """A table cell: numbers in ``float_format``, '-' where there is no value (NaN, None: no literal
    'nan'), and '|' escaped so that it does not split the cell."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return "-"
    text = float_format.format(value) if isinstance(value, float) else str(value)
    return text.replace("|", "\\|")
