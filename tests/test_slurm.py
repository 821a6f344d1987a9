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
from conftest import finetune_grid_only, tiny_config

pytestmark = pytest.mark.slow
CLUSTER = Path(__file__).parent / "slurm" / "cluster.sh"


SYSTEM_FOLDERS = (Path("/etc/slurm"), Path("/etc/munge"))


def system_folders_state() -> dict:
    """Every file under /etc/slurm and /etc/munge with its bytes: what the suite must leave as it found."""
    return {str(file): file.read_bytes() for folder in SYSTEM_FOLDERS if folder.exists()
            for file in sorted(folder.rglob("*")) if file.is_file()} | {
        str(folder): folder.exists() for folder in SYSTEM_FOLDERS}


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """The cluster's config, munge key and socket live in a temporary folder; the packages it
    installed are purged afterwards, and /etc/slurm and /etc/munge must be as before."""
    if os.geteuid() != 0:
        pytest.fail("the SLURM test starts daemons and needs root (CI runs as root)")
    before = system_folders_state()
    directory = tmp_path_factory.mktemp("slurm")
    try:
        subprocess.run(["bash", str(CLUSTER), "install", str(directory)], check=True, timeout=900)
        started = subprocess.run(["bash", str(CLUSTER), "start", str(directory)], capture_output=True, text=True,
                                 timeout=120)
        try:
            assert started.returncode == 0, started.stdout + started.stderr
            yield directory
        finally:
            subprocess.run(["bash", str(CLUSTER), "stop", str(directory)], timeout=60)
    finally:
        subprocess.run(["bash", str(CLUSTER), "uninstall", str(directory)], timeout=300)
        assert system_folders_state() == before, "the SLURM test left files under /etc/slurm or /etc/munge"


def slurm_environment(directory: Path) -> dict:
    """Clients read the test cluster's config; its srun wrapper comes first on PATH, for the plugin's
    inner srun, which drops SLURM_CONF."""
    return {**os.environ, "SLURM_CONF": str(directory / "slurm.conf"),
            "PATH": f"{directory / 'bin'}{os.pathsep}{os.environ['PATH']}"}


def _workflow_dir(tmp_path, name, model_dir, csv):
    directory = copy_workflow(tmp_path / name)
    # two finetunes (dense, neighbour at the late layers) and the CPU rules they need: SLURM's part
    # is submitting GPU and CPU jobs to their partitions and collecting their results
    config = finetune_grid_only(tiny_config(model_dir, csv))
    config["experiments"] = {"ablation": {"tasks": ["tiny"], "patterns": ["neighbour"], "placements": ["late"]}}
    config["tracking"] = {"enabled": False}
    (directory / "test_config.yaml").write_text(yaml.safe_dump(config))
    return directory


def test_tiny_workflow_through_the_slurm_profile(slurm_cluster, finished_tiny_tree, tiny_model_dir, tiny_csv, tmp_path):
    """Dense and neighbour at the late layers through the cluster; the runs train exactly as the same
    cells of the whole tiny DAG run locally (finished_tiny_tree)."""
    cluster = _workflow_dir(tmp_path, "cluster", tiny_model_dir, tiny_csv)
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    # derive the test profile: this cluster's partition and account, squeue polling (no slurmdbd)
    # this cluster's partitions: debug for the CPU rules, gpu for the GPU rules
    profile["default-resources"].update(slurm_partition="debug", slurm_account="root", runtime=10, mem_mb=1000)
    for rule in profile["set-resources"]:
        profile["set-resources"][rule] = {**profile["set-resources"][rule], "cpus_per_gpu": 1, "slurm_partition": "gpu"}
        profile["set-threads"][rule] = 1
    profile.update({"slurm-status-command": "squeue", "slurm-init-seconds-before-status-checks": 1,
                    "seconds-between-status-checks": 2, "jobs": 4, "latency-wait": 5, "preemptible-retries": 0})
    (cluster / "profiles/test_slurm").mkdir()
    (cluster / "profiles/test_slurm/config.yaml").write_text(yaml.safe_dump(profile))
    env = slurm_environment(slurm_cluster)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(cluster / "Snakefile"), "--directory",
               str(cluster), "--configfile", str(cluster / "test_config.yaml"), "--profile",
               str(cluster / "profiles/test_slurm")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]

    jobs = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, env=env).stdout
    finetune = [line for line in jobs.splitlines() if "rule_finetune" in line]
    cluster_runs = sorted(path.relative_to(cluster) for path in (cluster / "results/runs").rglob("metrics.json"))
    assert [str(path.parent) for path in cluster_runs] == ["results/runs/tiny/dense/none/seed0",
                                                           "results/runs/tiny/neighbour/late/seed0"]
    assert len(finetune) == len(cluster_runs), jobs
    for line in finetune:
        assert re.search(r"gres/gpu[:=]1\b|gpu:1\b", line), line
        assert "JobState=COMPLETED" in line and "Partition=gpu " in line, line
    other = [line for line in jobs.splitlines() if "rule_" in line and "rule_finetune" not in line]
    assert other and not any(re.search(r"gres/gpu", line) for line in other), "only finetune jobs ask for a GPU"
    assert all("Partition=debug " in line for line in other), "CPU rules go to the CPU partition"

    for relative in cluster_runs:
        ours = json.loads((finished_tiny_tree / relative).read_text())
        theirs = json.loads((cluster / relative).read_text())
        assert ours["history"] == theirs["history"], relative


def test_the_slurm_profile_resubmits_only_the_jobs_that_resume(tmp_path):
    """retries: 0 for every rule, preemptible-retries for the rules that resume from a checkpoint: a
    real Snakemake run of two failing rules (named as the profile's) counts each one's attempts."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert profile["retries"] == 0 and set(profile["preemptible-rules"]) == {"finetune", "learn_degrees"}
    (tmp_path / "Snakefile").write_text(
        'rule all:\n    input: "finetune.done", "masks.done"\n'
        + "".join(f'rule {name}:\n    output: "{name}.done"\n    shell: "echo x >> {name}.attempts; exit 1"\n'
                  for name in ("finetune", "masks")))
    subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--keep-going", "--retries",
                    str(profile["retries"]), "--preemptible-rules", *profile["preemptible-rules"],
                    "--preemptible-retries", str(profile["preemptible-retries"])],
                   cwd=tmp_path, capture_output=True, timeout=120)
    assert len((tmp_path / "finetune.attempts").read_text().split()) == 1 + profile["preemptible-retries"]
    assert len((tmp_path / "masks.attempts").read_text().split()) == 1


def test_the_slurm_profile_sends_cpu_and_gpu_rules_to_their_own_partitions():
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    cpu = profile["default-resources"]["slurm_partition"]
    gpu = {settings["slurm_partition"] for settings in profile["set-resources"].values()}
    assert gpu == {"gpu"} and cpu == "cpu"
    assert profile["show-failed-logs"] is True


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

