"""The one decision rule every finding uses (statistics in one place).

A comparison is a difference of scores between two cells (e.g. a masked cell minus dense). Its
estimate is the mean difference with a two-sided 95% t interval, paired by seed over the seeds both
cells ran, on n - 1 degrees of freedom (the tables show that paired n, and say when a cell ran seeds
the other did not), else Welch's interval with Satterthwaite's degrees of freedom. Every comparison
keeps its own spread: nothing is pooled across comparisons, tasks or metrics (differences.py says
why). A claim about the difference ("below a bound" or "above a bound") then has three outcomes:

- supported: the whole interval is on the claimed side of the bound (a one-sided test at 2.5%);
- not supported: the whole interval is on the other side (a one-sided test at 2.5% of the
  opposite claim; for "costs little", a non-inferiority test: the interval's lower end above
  ``-negligible_drop`` supports it, its upper end below refutes it);
- cannot tell: the interval straddles the bound; or fewer than 3 paired seeds, or no spread
  across them, or a cell without a score: the outcome says why, and how many seeds would give
  80% power at the observed difference and spread (a rough figure: both are estimated).

Each side spends its own 2.5%, so a claim exactly on its bound gets a definitive verdict, either
way, at most 5% of the time. Within one finding, a cell's definitive verdict stands only if its
p-value survives Holm's step-down over the finding's cells (refutations and supports each a
family; valid under any dependence between the cells), so each side's chance of a false verdict
in the finding stays at 2.5% however many cells it has (``judge_cells``); a finding every cell of
which supports it is supported without that correction (an intersection-union test: at most 2.5%
false support when one cell is on its bound, conservative when more are). A cell whose claim has
k parts is supported when every part is (the largest p-value) and refuted when one part is at
level alpha / k (Bonferroni over its parts); Holm's thresholds for its refutation carry the same
1 / k (``Outcome.parts``), so both tests use one scale. A run that collapsed to one class counts
like any other where its collapse moves the difference against the claim (a pattern's cost
includes its failed runs), but a claim is never supported by one: a collapse that moves the
difference the claim's way, in either cell, makes it cannot tell. No evidence of a drop is never reported as
no drop: that needs the interval to exclude it.

The estimates and their intervals are ``differences``'. Every level above is the fixed design's; at
a look of a sequential design (spending.at_look), ``spending.level`` gives that look's nominal level
instead, and intervals, Holm's thresholds and the Bonferroni over a cell's parts all use it: one
rule, of which the fixed design is the one-look case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .differences import MAX_SEEDS, MIN_DEFINITIVE_SEEDS, NO_SPREAD, Difference
from .spending import ONE_SIDED_ALPHA, level

SUPPORTED, NOT_SUPPORTED, CANNOT_TELL = "supported", "not supported", "cannot tell"
PARTLY = "partly"  # a finding over several cells, some supporting it and some refuting it


@dataclass(frozen=True)
class Outcome:
    verdict: str  # supported | not supported | cannot tell
    why: str
    p_claim: float = math.nan  # one-sided p-value of the claim (small: supported)
    p_refute: float = math.nan  # one-sided p-value of its opposite (small: refuted)
    reads: frozenset = field(default=frozenset(), compare=False)  # the run groups it was judged from
    # False where more seeds cannot decide it (a missing score, a sparsity mismatch, a point outside
    # the frontier): a sequential design gives such a cell no more seeds
    more_seeds_help: bool = True
    # the parts of a claim refuted when any one is (all_of): its refutation is tested at alpha / parts
    parts: int = 1


def decide(diff: Difference, *, above: float | None = None, below: float | None = None) -> Outcome:
    """The claim "the true difference is above ``above``" (or "below ``below``"), judged at the
    current look's level (``level``), from the run groups the difference read."""
    return replace(_decide(diff, above=above, below=below), reads=diff.reads)


def _decide(diff: Difference, *, above: float | None, below: float | None) -> Outcome:
    if (above is None) == (below is None):
        raise ValueError("decide needs exactly one of above= or below=")
    bound = above if above is not None else below
    side = "above" if above is not None else "below"
    other = "below" if side == "above" else "above"
    if not diff.estimable:
        return Outcome(CANNOT_TELL, str(diff), reads=diff.reads, more_seeds_help=False)
    # a collapsed run counts like any (what a pattern costs includes its failed runs), but it is no
    # evidence for a claim: one in the cell whose collapse would move the difference the claim's way
    # (the second cell for "above", the first for "below") bars the claim, in either direction
    favouring = diff.collapsed[1 if side == "above" else 0]
    if favouring:
        which = "second" if side == "above" else "first"
        return Outcome(CANNOT_TELL, f"{diff}: the {which} cell's run(s) of seed(s) {list(favouring)} predicted one class "
                                    f"for every eval example (collapsed), which moves the difference {side} the bound: "
                                    "no support from a broken run; find why it collapsed", more_seeds_help=False)
    if diff.n < 2:
        return Outcome(CANNOT_TELL, f"{diff}: one seed gives no spread; run at least {MIN_DEFINITIVE_SEEDS} seeds")
    against = diff.collapsed[0 if side == "above" else 1]
    note = "; ".join(filter(None, [diff.note, f"seed(s) {list(against)} collapsed, counted" if against else ""]))
    note = f" ({note})" if note else ""
    if not diff.std > NO_SPREAD:
        return Outcome(CANNOT_TELL, f"{diff}{note}: every seed gives the same difference, so its spread cannot be "
                                    "estimated; more seeds (or a finer metric, e.g. the eval loss) would tell")
    p_claim, p_refute = diff.p_value(bound, side), diff.p_value(bound, other)
    needed = diff.seeds_needed(bound)
    more = (f"about {needed} seeds would give 80% power at this difference and spread (both estimated from "
            f"{diff.n} seeds: a rough figure)" if needed else
            f"no number of seeds would: the eval set's sampling alone (se {math.sqrt(diff.eval_variance):.3f}) keeps the "
            "interval from clearing the bound; a larger eval set would" if diff.eval_set_blocks(bound) else
            f"more than {MAX_SEEDS} seeds at this spread")
    if diff.n < MIN_DEFINITIVE_SEEDS:
        # no p-values: a comparison that cannot be definitive takes no part in Holm's family or a
        # cell's refutation (all_of)
        return Outcome(CANNOT_TELL, f"{diff}{note}: {diff.n} paired seeds; a definitive verdict needs at least "
                                    f"{MIN_DEFINITIVE_SEEDS}; {more}")
    if diff.low > bound if side == "above" else diff.high < bound:
        return Outcome(SUPPORTED, f"{diff}{note} is {side} {bound:+.3f}", p_claim, p_refute)
    if diff.high < bound if side == "above" else diff.low > bound:
        return Outcome(NOT_SUPPORTED, f"{diff}{note} is {other} {bound:+.3f}", p_claim, p_refute)
    return Outcome(CANNOT_TELL, f"{diff}{note} straddles {bound:+.3f}; {more}", p_claim, p_refute)


def holm_rejections(p_values: list[float], alpha: float = ONE_SIDED_ALPHA, parts: list[int] | None = None) -> list[bool]:
    """Holm's step-down: the k-th smallest p-value (from 0) is rejected while it and every smaller one
    is at most alpha / (m - k) (at a look of a sequential design, the look's nominal level of a
    boundary spending alpha / (m - k), ``level``: Holm's procedure with group-sequential tests,
    Maurer and Bretz 2013). A hypothesis of ``parts[i]`` parts, any one of which rejects it, is
    tested at alpha / (m - k) / parts[i], the level its own Bonferroni over the parts uses (all_of),
    and ordered by its p-value times its parts. Written out rather than statsmodels'
    multipletests(method="holm"), whose Holm branch runs gc.collect() on every call (0.04 s in a
    small process, seconds in a large one); tests/test_decision.py checks the two agree."""
    parts = parts or [1] * len(p_values)
    rejected = [False] * len(p_values)
    for rank, index in enumerate(sorted(range(len(p_values)), key=lambda i: p_values[i] * parts[i])):
        if not p_values[index] <= level(alpha / (len(p_values) - rank) / parts[index]):
            break
        rejected[index] = True
    return rejected


def judge_cells(cells: list[Outcome]) -> tuple[str, list[Outcome]]:
    """A finding's verdict over its cells, and each cell's outcome as the finding reports it.

    Supported when every cell supports it (each at the per-cell level: an intersection-union test
    needs no correction). Otherwise a cell's definitive verdict stands only if its p-value survives
    Holm's step-down at the one-sided 2.5% over the finding's cells (supports and refutations each
    a family); then not supported when a cell refutes it (partly if another supports it), else
    cannot tell.
    """
    verdicts = [cell.verdict for cell in cells]
    if cells and set(verdicts) == {SUPPORTED}:
        return SUPPORTED, list(cells)
    judged = list(cells)
    if len(cells) > 1:
        for verdict, attribute in ((SUPPORTED, "p_claim"), (NOT_SUPPORTED, "p_refute")):
            p_values = [getattr(cell, attribute) for cell in cells]
            tested = [i for i, p in enumerate(p_values) if not math.isnan(p)]
            if not tested:
                continue
            divisors = [cells[i].parts if verdict == NOT_SUPPORTED else 1 for i in tested]
            keeps = holm_rejections([p_values[i] for i in tested], parts=divisors)
            for i, kept in zip(tested, keeps):
                if judged[i].verdict == verdict and not kept:
                    judged[i] = replace(judged[i], verdict=CANNOT_TELL, why=(
                        f"{judged[i].why}; {verdict} alone, but not after Holm's correction over the finding's "
                        f"{len(cells)} cells (p = {p_values[i]:.3f})"))
    found = {cell.verdict for cell in judged}
    if NOT_SUPPORTED in found:
        return (PARTLY if SUPPORTED in found else NOT_SUPPORTED), judged
    return CANNOT_TELL, judged


def combine(outcomes: list[Outcome]) -> str:
    """A finding's verdict over its cells (judge_cells)."""
    return judge_cells(outcomes)[0]


def all_of(outcomes: list[Outcome]) -> Outcome:
    """A cell whose claim has several parts: supported when all are (its p-value the largest of
    theirs), not supported when any is refuted at alpha / parts (Bonferroni over the parts; its
    p-value is the smallest of theirs, ``parts`` carries the divisor to Holm)."""
    verdicts = [o.verdict for o in outcomes]
    claims = [o.p_claim for o in outcomes]
    refutations = [o.p_refute for o in outcomes if not math.isnan(o.p_refute)]
    p_refute = min(refutations) if refutations else math.nan
    why = "; ".join(o.why for o in outcomes)
    verdict = SUPPORTED if set(verdicts) == {SUPPORTED} else CANNOT_TELL
    if NOT_SUPPORTED in verdicts:
        # the refutation must hold with the parts' Bonferroni correction: any one of k parts refuted
        # at 2.5% each would refute the claim falsely up to k times as often (simulated: 8% for
        # finding 2's four comparisons, docs/EXPERIMENTS.md)
        if min(refutations) <= level(ONE_SIDED_ALPHA / len(outcomes)):
            verdict = NOT_SUPPORTED
        else:
            why += (f"; a part is refuted alone, but not after Bonferroni over the cell's {len(outcomes)} parts "
                    f"(p = {p_refute:.3f} against {level(ONE_SIDED_ALPHA / len(outcomes)):.4f})")
    return Outcome(verdict, why, max(claims) if not any(math.isnan(p) for p in claims) else math.nan, p_refute,
                   reads=frozenset().union(*(o.reads for o in outcomes)),
                   # seeds help unless every part is barred from a verdict (a broken baseline, unequal
                   # sparsity): a part decided alone may still be undone by Holm or the parts' Bonferroni
                   more_seeds_help=any(o.more_seeds_help for o in outcomes), parts=len(outcomes))


RULE_TEXT = (
    "Decision rule (src/breaking_bert/stats/decision.py): each comparison is a difference of scores with a "
    "two-sided 95% t interval, paired by seed over the seeds both cells ran (n is that paired count), on n - 1 "
    "degrees of freedom; each comparison keeps its own spread (nothing is pooled across comparisons, tasks or "
    "metrics, so shared baselines and unequal spreads leave each interval valid, as far as its normal model "
    "holds). A claim is supported when the "
    "whole interval is on its side of the bound (a one-sided test at 2.5%), not supported when the whole interval "
    "is on the other side (the opposite one-sided test, also at 2.5%: a claim on its bound gets a definitive "
    "verdict at most 5% of the time, 2.5% each way), and cannot tell otherwise, with the seeds that would give 80% "
    "power at the observed difference and spread; fewer than 3 paired seeds, no spread across them, or a missing "
    "score never give a definitive verdict. Within a finding, a cell's definitive verdict must also survive Holm's "
    "correction over the finding's cells (one-sided 2.5% per side, valid under any dependence between them); a "
    "finding is supported when every cell supports it (an intersection-union test, conservative). A cell whose "
    "claim has parts (finding 1's two, finding 2's four, finding 3's two) is supported when every part is and "
    "refuted when one part is after Bonferroni over the parts, in Holm's thresholds too. \"Costs little\" is a "
    "one-sided non-inferiority test: the interval's lower end above minus the metric's negligible drop. Where the "
    "runs kept their eval predictions an interval also covers the sampling of the eval set (Satterthwaite's df), "
    "so its verdict is about the task. The t intervals assume that a comparison's per-seed differences vary "
    "roughly normally. A finetune that collapses (one class predicted for every eval example) breaks that: a "
    "collapsed run counts like any where it moves the difference against a claim (a pattern's cost includes its "
    "failed runs), a claim is never supported by one (a collapse that moves the difference the claim's way, in "
    "either cell, makes it cannot tell), and a collapse rate too low to show among the runs made "
    "is not excluded (none in n runs bounds it below 1 - 0.05^(1/n) at 95%: 63% at 3 runs, 35% at 7), so a "
    "verdict is about runs like those observed. The "
    "rule's calibration (false-definitive rates at the least favourable nulls, power) is in docs/EXPERIMENTS.md."
)
