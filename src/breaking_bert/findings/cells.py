"""What every finding shares: its verdict record and the selection of a table's cells by seed."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..decision import CANNOT_TELL, NOT_SUPPORTED, SUPPORTED, combine

PAPER_KINDS = ("syntax", "lexical", "neighbour", "random")
NOT_TESTED = "not tested"


@dataclass
class Verdict:
    finding: str
    verdict: str
    reason: str
    evidence: pd.DataFrame = field(default_factory=pd.DataFrame)


def _select(runs: pd.DataFrame, **cell) -> pd.DataFrame:
    """The runs matching every column value in ``cell``."""
    selected = runs
    for column, value in cell.items():
        selected = selected[selected[column] == value]
    return selected


def _by_seed(runs: pd.DataFrame, column: str, **cell) -> dict[int, float]:
    selected = _select(runs, **cell)
    return dict(zip(selected["seed"].astype(int), selected[column].astype(float)))


def _scores(runs: pd.DataFrame, **cell) -> dict[int, float]:
    """seed -> score of the runs matching every column value in ``cell``."""
    return _by_seed(runs, "score", **cell)


def _tally(outcomes: list[str]) -> str:
    counts = {v: outcomes.count(v) for v in (SUPPORTED, NOT_SUPPORTED, CANNOT_TELL) if outcomes.count(v)}
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def _one_seed_caveat(evidence: pd.DataFrame) -> str:
    if "seeds" in evidence and (evidence["seeds"] < 2).any():
        return "; one seed gives no spread, so no verdict can be definitive: run at least 2 seeds (3 or more to measure the spread)"
    return ""


def conclude(name: str, rows: list[dict], outcomes: list[str], reason: str, untested: str | None = None) -> Verdict:
    """A finding's verdict from its cells: their outcomes combined, the evidence table, the reason
    with the one-seed caveat where a cell had one seed; ``not tested`` (why: ``untested``) when no
    cell could be judged."""
    evidence = pd.DataFrame(rows)
    if untested is not None and evidence.empty:
        return Verdict(name, NOT_TESTED, untested)
    return Verdict(name, combine(outcomes), reason + _one_seed_caveat(evidence), evidence)
