"""The experiment's vocabulary, defined once: pattern kinds (from ``kinds``, where each is defined
with the builder of its links), placements, mask draws, the names of generated patterns and
learned settings, and degrees written as text.

Standard library only (no numpy, no torch), as ``kinds`` is at import: the workflow's scheduling
process imports it from the checkout (workflow/rules/common.smk), because under ``--sdm conda`` the
library and its dependencies live only in the rules' environments; the report layer (aggregate,
findings, figures) uses it without pulling torch in.
"""

from __future__ import annotations

import re

# the kinds' terms, re-exported: the workflow and the report layer read every term from here
from .kinds import BASELINE_KIND, GRID_KINDS, KINDS, SEEDED_KINDS, Kind, get_kind  # noqa: F401

# ---------------------------------------------------------------------------------------------
# Degrees as text: 'g=1 w=3 r=0' in tables, '<grid>_g1_w3_r0' as the name of a grid's point


def degree_order(names) -> list[str]:
    """BigBird's g, w, r first, then the rest alphabetically: the same order whatever the YAML's."""
    return sorted(names, key=lambda name: ("gwrk".find(name) % 9, name))


DEGREE_NAMES = tuple(degree_order({name for kind in KINDS.values() for name in kind.degrees}))
DEGREE_COLUMNS = tuple(f"degree_{name}" for name in DEGREE_NAMES)  # the typed columns of runs.csv


def degree_columns(degrees) -> dict[str, int | None]:
    """{'g': 1, 'w': 3} -> {'degree_g': 1, 'degree_w': 3, 'degree_r': None, ...}: one typed column
    per degree name of any kind, None where a pattern has no such degree or its examples have
    their own (per-example solving: a list)."""
    given = degrees if isinstance(degrees, dict) else {}
    return {f"degree_{name}": (int(given[name]) if name in given else None) for name in DEGREE_NAMES}


def degrees_from_columns(row) -> dict[str, int]:
    """The inverse of degree_columns, from a table's row (a dict or a pandas Series)."""
    values = {name: row.get(f"degree_{name}") for name in DEGREE_NAMES}
    return {name: int(value) for name, value in values.items() if _present(value)}


def _present(value) -> bool:
    """Not None, NaN (a CSV's empty cell) or pandas' NA (an Int64 column's), without pandas."""
    try:
        return value is not None and bool(value == value)  # NaN != NaN
    except TypeError:  # NA == NA is NA, whose truth is ambiguous
        return False


def format_degrees(degrees) -> str:
    """{'g': 1, 'w': 3} -> 'g=1 w=3'; '' for dense (None or {}); 'per example' when each example
    has its own (a list)."""
    if degrees is None:
        return ""
    if isinstance(degrees, dict):
        return " ".join(f"{name}={degrees[name]}" for name in degree_order(degrees))
    return "per example"


def parse_degrees(text) -> dict[str, int]:
    """'g=1 w=3 r=0' -> {'g': 1, 'w': 3, 'r': 0}: format_degrees read back ({} for '' and 'per example')."""
    return {name: int(value) for name, value in re.findall(r"(\w+)=(\d+)", str(text or ""))}


def grid_point_name(grid: str, degrees: dict[str, int]) -> str:
    return f"{grid}_" + "_".join(f"{name}{degrees[name]}" for name in degree_order(degrees))


# ---------------------------------------------------------------------------------------------
# Placements: which layers a pattern masks

PLACEMENT_REGEX = r"all|early|late|none|layer\d+|from\d+"
NAMED_PLACEMENTS = ("all", "early", "late")  # experiment 1's, in the order figures show them
SWEEPS = ("layer", "from")  # layer<i>: only layer i; from<i>: layers i..top
# Experiment 2's degree grids (BigBird points, global-only corners) are drawn against their
# sparsity (score_vs_sparsity); the pattern-and-placement bar chart is experiment 1's, so a config
# without such a cell makes no bar chart (it showed the dense line alone).
DEGREE_GRID_KINDS = ("bigbird", "global")


def in_pattern_and_placement_chart(kind: str, placement: str) -> bool:
    return placement in NAMED_PLACEMENTS and kind not in DEGREE_GRID_KINDS


def sweep_of(placement: str) -> tuple[str, int] | None:
    """'layer3' -> ('layer', 3); 'from2' -> ('from', 2); a named placement -> None."""
    for prefix in SWEEPS:
        if placement.startswith(prefix) and placement[len(prefix) :].isdigit():
            return prefix, int(placement[len(prefix) :])
    return None


def early_layers(num_layers: int) -> range:
    """The first half of a model's layers (placement 'early'; 'late' is the rest)."""
    return range(num_layers // 2)


def placement_layers(placement: str, num_layers: int) -> frozenset[int]:
    """The 0-based layers a placement masks: all | none | early (first half) | late (second half) |
    layer<i> (one layer) | from<i> (i..top)."""
    early = early_layers(num_layers)
    named = {"all": range(num_layers), "none": (), "early": early, "late": range(len(early), num_layers)}
    if placement in named:
        layers = named[placement]
    elif sweep := sweep_of(placement):
        prefix, index = sweep
        layers = [index] if prefix == "layer" else range(index, num_layers)
    else:
        raise ValueError(f"placement {placement!r}; allowed: all, none, early, late, layer<i>, from<i>")
    layers = frozenset(layers)
    if any(layer >= num_layers for layer in layers):
        raise ValueError(f"placement {placement!r} names a layer beyond the model's {num_layers} layers")
    if not layers and placement != "none":  # e.g. from6 of 6 layers: a dense run under a sparse label
        raise ValueError(f"placement {placement!r} masks no layer of the model's {num_layers} layers")
    return layers


# A pattern's keys that the schema fills in when the workflow validates the config; a library
# caller's pattern dict may leave them out, and gets these (tests/test_config.py holds them equal
# to config/schema.yaml's defaults, which stay the one place to change them)
PATTERN_DEFAULTS = {"seed": 0, "solve": "per_example"}


def with_pattern_defaults(pattern: dict) -> dict:
    return {**PATTERN_DEFAULTS, **pattern}


# ---------------------------------------------------------------------------------------------
# Mask draws: a seeded kind's masks per run seed ('seed<k>'), the others' once ('fixed')

DRAW_REGEX = r"fixed|seed\d+"
# the columns that name a run group (the runs of one cell, one per seed) in each runs table:
# runs.csv's and learned_runs.csv's, told apart by runs_table_kind
RUN_GROUP_COLUMNS = {"runs": ("task", "pattern", "placement"), "learned": ("task", "variant", "setting")}


def runs_table_kind(table) -> str:
    """'learned' for a learned runs table (it has a variant column), else 'runs'."""
    return "learned" if "variant" in table else "runs"


# where each job's results go, relative to the checkout (the rules' output templates)
MASK_DIR = "results/masks/{task}/{pattern}/{draw}"
RUN_DIR = "results/runs/{task}/{pattern}/{placement}/seed{seed}"
LEARNED_DIR = "results/learned/{task}/{variant}/{setting}/seed{seed}"


def mask_draw(kind: str, run_seed: int) -> str:
    return f"seed{run_seed}" if get_kind(kind).seeded else "fixed"


def parse_draw(draw: str) -> int | None:
    """``fixed`` (no random draw) -> None; ``seed<k>`` -> k, the run seed the draw belongs to."""
    if draw == "fixed":
        return None
    if draw.startswith("seed") and draw[4:].isdigit():
        return int(draw[4:])
    raise ValueError(f"mask draw {draw!r}: expected 'fixed' or 'seed<k>'")


# ---------------------------------------------------------------------------------------------
# Learned sparsity: variants, their frozen controls, and sweep settings ('target0.78')

VARIANTS = ("regular", "irregular")
FROZEN = "_frozen"  # '<variant>_frozen': the learned run's final windows, fixed, trained again
OBJECTIVES = ("target", "penalty")
VARIANT_REGEX = rf"({'|'.join(VARIANTS)})({FROZEN})?"
SETTING_REGEX = rf"({'|'.join(OBJECTIVES)})[0-9.e+-]+"


def control_of(variant: str) -> str:
    return f"{variant}{FROZEN}"


def is_control(variant: str) -> bool:
    return variant.endswith(FROZEN)


def learned_variant(variant: str) -> str:
    """The variant a control was trained from ('regular_frozen' -> 'regular')."""
    return variant.removesuffix(FROZEN)


def setting_name(objective: str, value: float) -> str:
    return f"{objective}{value:g}"


def parse_setting(setting: str) -> tuple[str, float]:
    """'target0.78' -> ('target', 0.78)."""
    for objective in OBJECTIVES:
        if setting.startswith(objective):
            return objective, float(setting[len(objective) :])
    raise ValueError(f"setting {setting!r}: expected one of {', '.join(OBJECTIVES)} and a number")
