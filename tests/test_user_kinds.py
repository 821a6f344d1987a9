"""A researcher's own pattern kind, from a package of theirs, through the whole tiny DAG with no
edit to this repository (config/README.md, "Your own pattern kind"), the workflow included as a
Snakemake module by a project in another folder (README, "As a Snakemake module")."""

import os

import pandas as pd
import pytest
import yaml

from conftest import copy_workflow, snakemake, tiny_config

pytestmark = pytest.mark.slow

STRIDE_KINDS = """\
from breaking_bert.kinds import pattern_kind


@pattern_kind("strided", degrees=("k",))
def strided_links(inputs, k):
    \"\"\"Every third token, up to k strides away: denser as k grows, so a target can be solved for.\"\"\"
    import numpy as np

    distance = np.abs(np.arange(inputs.n)[:, None] - np.arange(inputs.n)[None, :])
    return (distance % 3 == 0) & (distance <= 3 * k)
"""


def installed_package(site):
    """A package as pip installs it: the module and its dist-info, whose entry point names the kind."""
    info = site / "stride_kinds-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: stride-kinds\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[breaking_bert.pattern_kinds]\nstrided = stride_kinds\n")
    (site / "stride_kinds.py").write_text(STRIDE_KINDS)


MODULE_SNAKEFILE = """\
module breaking_bert:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from breaking_bert
"""


def test_a_kind_from_the_users_package_runs_through_every_stage(tiny_model_dir, tiny_csv, tmp_path, monkeypatch):
    """masks (solved onto a target sparsity through its degree), finetune, cost, the tables, figures
    and findings: the kind is a pattern like any other, its degree a typed column. The user's
    project is a folder of its own whose Snakefile includes the workflow as a module: the library,
    scripts, envs and declared code inputs are the workflow's, found from its own files."""
    site = tmp_path / "site"
    installed_package(site)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    workflow = copy_workflow(tmp_path / "workflow")
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "Snakefile").write_text(MODULE_SNAKEFILE.format(snakefile=workflow / "Snakefile"))
    config = tiny_config(tiny_model_dir, tiny_csv)
    config["patterns"] = {"dense": {"kind": "dense"}, "neighbour": config["patterns"]["neighbour"],
                          "stride": {"kind": "strided", "degrees": {"k": 1}},
                          "stride_60": {"kind": "strided", "target_sparsity": 0.6}}
    config["experiments"] = {"mine": {"tasks": ["tiny"], "patterns": ["stride", "stride_60"], "placements": ["all", "late"]}}
    for key in ("pattern_grids", "learned_sparsity"):
        config.pop(key)
    config["tracking"] = {"enabled": False}
    (directory / "test_config.yaml").write_text(yaml.safe_dump(config))
    snakemake(directory)

    runs = pd.read_csv(directory / "results/test_config/tables/runs.csv")
    stride = runs[runs["kind"] == "strided"].set_index(["pattern", "placement"])
    assert len(stride) == 4 and stride["score"].between(0, 1).all()
    assert (stride.loc["stride", "degree_k"] == 1).all(), "its degree a typed column like a built-in kind's"
    assert stride.loc[("stride", "all"), "sparsity_mean"] > 0.6, "itself and 2 of ~14 tokens, special tokens aside"
    sparsity = pd.read_csv(directory / "results/test_config/tables/sparsity.csv")
    solved = sparsity[(sparsity["pattern"] == "stride_60") & (sparsity["split"] == "train")]["sparsity_mean"].item()
    assert abs(solved - 0.6) < 0.15, "its degree solved for the target like a built-in kind's"
    cost = pd.read_csv(directory / "results/test_config/tables/cost.csv")
    assert {"stride", "stride_60"} <= set(cost["pattern"])
    assert "stride" in (directory / "results/test_config/findings.md").read_text()
    assert (directory / "results/test_config/figures/score_vs_sparsity.png").stat().st_size > 10_000
    assert not (workflow / "results").exists() and not (directory / "src").exists(), "results in the project, code in the workflow"
