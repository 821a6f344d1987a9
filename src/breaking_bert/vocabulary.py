"""The experiment's vocabulary, defined once: pattern kinds and their degrees, placements, mask
draws, the names of generated patterns and learned settings, and degrees written as text.

Standard library only (no numpy, no torch): the workflow's scheduling process loads this file by
path (workflow/rules/common.smk), because under ``--sdm conda`` the library and its dependencies
live only in the rules' environments; the report layer (aggregate, findings, figures) uses it
without pulling torch in. The builders that draw each kind's links live in ``masks.patterns``,
registered under the same names (a test checks that they agree, and the schema's enums with them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------
# Pattern kinds


@dataclass(frozen=True)
class Kind:
    name: str
    degrees: tuple[str, ...] = ()  # integer degrees; the first is the one solved for a target sparsity
    needs: frozenset[str] = frozenset()  # inputs beyond the tokens: "parse", "embeddings", "reference"
    seeded: bool = False  # a random draw: its masks are drawn anew for every run seed
    symmetric: bool = True  # its links go both ways (random partners and BigBird's do not)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("dense"),
        Kind("neighbour", ("w",)),
        Kind("global", ("g",)),
        Kind("random", ("k",), seeded=True, symmetric=False),
        Kind("syntax", ("k",), needs=frozenset({"parse"})),
        Kind("lexical", ("k",), needs=frozenset({"embeddings"})),
        Kind("bigbird", ("g", "w", "r"), seeded=True, symmetric=False),
        Kind("dilated", ("w", "d")),  # every d-th position up to w steps away (Longformer's dilated window)
        # a random control with the per-row degrees of another pattern (patterns.<name>.reference)
        Kind("matched_random", needs=frozenset({"reference"}), seeded=True, symmetric=False),
    )
}
SEEDED_KINDS = tuple(name for name, kind in KINDS.items() if kind.seeded)
GRID_KINDS = tuple(name for name, kind in KINDS.items() if kind.degrees)  # what a pattern grid may sweep


def get_kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown pattern kind {name!r}; known: {', '.join(KINDS)}") from None


# ---------------------------------------------------------------------------------------------
# Degrees as text: 'g=1 w=3 r=0' in tables, '<grid>_g1_w3_r0' as the name of a grid's point


def degree_order(names) -> list[str]:
    """BigBird's g, w, r first, then the rest alphabetically: the same order whatever the YAML's."""
    return sorted(names, key=lambda name: ("gwrk".find(name) % 9, name))


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


def sweep_of(placement: str) -> tuple[str, int] | None:
    """'layer3' -> ('layer', 3); 'from2' -> ('from', 2); a named placement -> None."""
    for prefix in SWEEPS:
        if placement.startswith(prefix) and placement[len(prefix) :].isdigit():
            return prefix, int(placement[len(prefix) :])
    return None


def placement_layers(placement: str, num_layers: int) -> frozenset[int]:
    """The 0-based layers a placement masks: all | none | early (first half) | late (second half) |
    layer<i> (one layer) | from<i> (i..top)."""
    half = num_layers // 2
    named = {"all": range(num_layers), "none": (), "early": range(half), "late": range(half, num_layers)}
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
    return layers


# ---------------------------------------------------------------------------------------------
# Mask draws: a seeded kind's masks per run seed ('seed<k>'), the others' once ('fixed')

DRAW_REGEX = r"fixed|seed\d+"


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
