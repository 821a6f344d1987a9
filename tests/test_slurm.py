"""The tiny workflow through the SLURM profile on a real single-node slurmctld (started here)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, copy_workflow
from test_workflow import finetune_grid_only, snakemake, tiny_config

pytestmark = pytest.mark.slow
CLUSTER = Path(__file__).parent / "slurm" / "cluster.sh"


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the SLURM test starts daemons and needs root (CI runs as root)")
    subprocess.run(["bash", str(CLUSTER), "install"], check=True, timeout=900)
    directory = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(CLUSTER), "start", str(directory)], capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield directory
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(directory)], timeout=60)


def _workflow_dir(tmp_path, name, model_dir, csv):
    directory = copy_workflow(tmp_path / name)
    # the finetune grid only: SLURM's part is submitting GPU jobs and collecting their results
    config = finetune_grid_only(tiny_config(model_dir, csv))
    config["experiments"]["ablation"]["placements"] = ["late"]
    config["tracking"] = {"enabled": False}
    (directory / "test_config.yaml").write_text(yaml.safe_dump(config))
    return directory


def test_tiny_workflow_through_the_slurm_profile(slurm_cluster, tiny_model_dir, tiny_csv, tmp_path):
    local = _workflow_dir(tmp_path, "local", tiny_model_dir, tiny_csv)
    snakemake(local)

    cluster = _workflow_dir(tmp_path, "cluster", tiny_model_dir, tiny_csv)
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    # derive the test profile: this cluster's partition and account, squeue polling (no slurmdbd)
    profile["default-resources"].update(slurm_partition="debug", slurm_account="root", runtime=10, mem_mb=1000)
    for rule in profile["set-resources"]:
        profile["set-resources"][rule] = {**profile["set-resources"][rule], "cpus_per_gpu": 1}
        profile["set-threads"][rule] = 1
    profile.update({"slurm-status-command": "squeue", "slurm-init-seconds-before-status-checks": 1,
                    "seconds-between-status-checks": 2, "jobs": 4, "latency-wait": 5, "retries": 0})
    (cluster / "profiles/test_slurm").mkdir()
    (cluster / "profiles/test_slurm/config.yaml").write_text(yaml.safe_dump(profile))
    env = {**os.environ, "SLURM_CONF": str(slurm_cluster / "slurm.conf")}
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(cluster / "Snakefile"), "--directory",
               str(cluster), "--configfile", str(cluster / "test_config.yaml"), "--profile",
               str(cluster / "profiles/test_slurm")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]

    jobs = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, env=env).stdout
    finetune = [line for line in jobs.splitlines() if "rule_finetune" in line]
    local_runs = list((local / "results/runs").rglob("metrics.json"))
    assert len(local_runs) == 6  # dense + 3 patterns at the late placement + 2 controls
    assert len(finetune) == len(local_runs), jobs
    for line in finetune:
        assert re.search(r"gres/gpu[:=]1\b|gpu:1\b", line), line
        assert "JobState=COMPLETED" in line, line
    other = [line for line in jobs.splitlines() if "rule_" in line and "rule_finetune" not in line]
    assert other and not any(re.search(r"gres/gpu", line) for line in other), "only finetune jobs ask for a GPU"

    for metrics in local_runs:
        relative = metrics.relative_to(local)
        ours, theirs = json.loads(metrics.read_text()), json.loads((cluster / relative).read_text())
        assert ours["history"] == theirs["history"], relative


def test_the_slurm_profile_gives_every_gpu_rule_its_gpu():
    """Every rule that declares gpu=1 gets a GPU (and its cores) on the cluster, not only finetune."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    gpu_rules = set()
    for rule_file in (REPO / "workflow/rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", rule_file.read_text(), flags=re.MULTILINE | re.DOTALL):
            if re.search(r"^\s+gpu=1,", body, flags=re.MULTILINE):
                gpu_rules.add(name)
    assert gpu_rules >= {"finetune", "learn_degrees", "kernel_timing"}
    assert set(profile["set-resources"]) == gpu_rules == set(profile["set-threads"])
    for rule in gpu_rules:
        assert profile["set-resources"][rule]["gpu"] == 1
        assert profile["set-threads"][rule] == profile["set-resources"][rule]["cpus_per_gpu"]

