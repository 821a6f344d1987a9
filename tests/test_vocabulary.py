"""The experiment's vocabulary: each term written and read back the same way everywhere."""

import subprocess
import sys

import pytest

from breaking_bert.vocabulary import (
    format_degrees,
    grid_point_name,
    mask_draw,
    parse_degrees,
    parse_draw,
    parse_setting,
    placement_layers,
    setting_name,
    sweep_of,
)


def test_placements():
    assert placement_layers("all", 6) == frozenset(range(6))
    assert placement_layers("early", 6) == frozenset({0, 1, 2})
    assert placement_layers("late", 6) == frozenset({3, 4, 5})
    assert placement_layers("layer4", 6) == frozenset({4})
    assert placement_layers("from2", 6) == frozenset({2, 3, 4, 5})
    assert placement_layers("none", 6) == frozenset()
    assert placement_layers("early", 5) == frozenset({0, 1}) and placement_layers("late", 5) == frozenset({2, 3, 4})
    assert sweep_of("layer11") == ("layer", 11) and sweep_of("from0") == ("from", 0) and sweep_of("late") is None
    with pytest.raises(ValueError, match="beyond the model's 6 layers"):
        placement_layers("layer6", 6)
    with pytest.raises(ValueError, match="allowed: all, none, early"):
        placement_layers("middle", 6)


def test_degrees_read_back_as_written_in_bigbirds_order():
    degrees = {"r": 0, "w": 12, "g": 1}
    assert format_degrees(degrees) == "g=1 w=12 r=0"
    assert parse_degrees(format_degrees(degrees)) == degrees
    assert grid_point_name("bb", degrees) == "bb_g1_w12_r0"
    assert format_degrees(None) == "" and parse_degrees("") == {} and parse_degrees(float("nan")) == {}
    assert format_degrees([{"k": 3}, {"k": 4}]) == "per example"


def test_settings_and_draws_read_back_as_written():
    for objective, value in (("target", 0.78), ("penalty", 1e-3), ("target", 0.5)):
        assert parse_setting(setting_name(objective, value)) == (objective, value)
    assert setting_name("target", 0.5) == "target0.5"
    with pytest.raises(ValueError, match="expected one of target, penalty"):
        parse_setting("budget0.5")
    assert mask_draw("random", 2) == "seed2" and mask_draw("matched_random", 0) == "seed0"
    assert mask_draw("syntax", 2) == "fixed"
    assert parse_draw("fixed") is None and parse_draw(mask_draw("bigbird", 12)) == 12
    with pytest.raises(ValueError, match="expected 'fixed' or 'seed<k>'"):
        parse_draw("seedx")
    with pytest.raises(ValueError, match="unknown pattern kind 'ring'"):
        mask_draw("ring", 0)


def test_the_report_layer_and_the_vocabulary_import_no_torch():
    """aggregate, findings and figures read tables; torch (seconds to import, GBs on a GPU box)
    is the training stages' business. The vocabulary needs the standard library only."""
    code = (
        "import sys\n"
        "import breaking_bert.vocabulary\n"
        "assert not {'numpy', 'pandas', 'torch'} & set(sys.modules), 'the vocabulary imports more than the stdlib'\n"
        "import breaking_bert.aggregate, breaking_bert.findings, breaking_bert.report.figures\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_sweep_prefixes_and_the_halves_are_read_from_the_vocabulary_only():
    """A placement's sweep prefix (layer<i>, from<i>) and the early/late halves are defined once,
    in vocabulary.py (sweep_of, placement_layers): no other library or workflow file tests a
    placement's prefix or halves a layer count itself (plan.smk and aggregate.py did)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    prefix = re.compile(r"""startswith\(\s*\(?\s*["'](?:layer|from)["']|\[:\s*(?:5|4)\]\s*==\s*["'](?:layer|from)""")
    halves = re.compile(r"(?:num_layers|depth|layers)\s*//\s*2")
    files = [*(root / "src/breaking_bert").rglob("*.py"), *(root / "workflow").rglob("*.smk"), *(root / "workflow").rglob("*.py")]
    offenders = [f"{path.relative_to(root)}:{number}" for path in files if path.name != "vocabulary.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if prefix.search(line) or halves.search(line)]
    assert not offenders, offenders
    assert len(files) > 40
