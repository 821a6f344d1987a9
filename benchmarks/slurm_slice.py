"""The rehearsal through the SLURM profile, for one task: every job of `config/embedded_gpu.yaml`
with `config/overlays/rehearsal.yaml` over it, cut to Rotten Tomatoes and seeds 0 and 1 (~315
jobs), submitted with sbatch to a running cluster (`tests/slurm/cluster.sh start CLUSTER`):

    python -m benchmarks slurm_slice WORKDIR CLUSTER

WORKDIR is a clone of the repository (the run writes results/ there). The profile is
profiles/slurm/config.yaml with this cluster's partitions and account, squeue polling (the
cluster has no accounting daemon), one core per GPU job, and the logs of successful jobs kept.
Snakemake runs at nice 19. Afterwards one JSON line: jobs submitted, finished and failed, jobs
submitted but neither finished nor failed (lost), SLURM log files found, per rule."""

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TASK = "rotten_tomatoes"
SEEDS = [0, 1]


def merged(base: dict, over: dict) -> dict:
    """``over`` on ``base`` as Snakemake merges --configfile files: nested mappings key by key."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def slice_config() -> dict:
    """embedded_gpu.yaml with the rehearsal overlay, only the experiments and learned runs of TASK."""
    config = merged(yaml.safe_load((REPO / "config/embedded_gpu.yaml").read_text()),
                    yaml.safe_load((REPO / "config/overlays/rehearsal.yaml").read_text()))
    config["tasks"] = {TASK: config["tasks"][TASK]}
    config["experiments"] = {name: {**experiment, "tasks": [TASK]}
                             for name, experiment in config["experiments"].items() if TASK in experiment["tasks"]}
    config["learned_sparsity"]["tasks"] = [TASK]
    config["seeds"] = SEEDS
    return config


def slice_profile() -> dict:
    """The shipped SLURM profile, for the test cluster (partitions debug and gpu, account root)."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"].update(slurm_partition="debug", slurm_account="root")
    for rule in profile["set-resources"]:
        profile["set-resources"][rule] = {**profile["set-resources"][rule], "cpus_per_gpu": 1, "slurm_partition": "gpu"}
        profile["set-threads"][rule] = 1
    profile.update({"slurm-status-command": "squeue", "slurm-keep-successful-logs": True, "jobs": 8})
    return profile


def read_log(log: str) -> dict:
    """What the Snakemake log says happened to each job, by its last event: submitted (and then
    nothing: lost), finished or failed; and how many jobs the run planned (its first job table), so
    that jobs never submitted (the run stopped) show too. Local rules finish without a submission."""
    events = re.finditer(r"Job (?P<submitted>\d+) has been submitted with SLURM jobid \d+"
                         r"|Finished jobid: (?P<finished>\d+) \(Rule: (?P<rule>\w+)\)"
                         # an error block: "Error in rule NAME:", then indented lines, one of them "jobid: N"
                         r"|Error in rule \w+:(?:\n[ \t]+(?!jobid).*){0,12}\n[ \t]+jobid: (?P<failed>\d+)", log)
    last, submitted, rules = {}, set(), {}
    for event in events:
        kind = next(k for k in ("submitted", "finished", "failed") if event.group(k))
        last[event.group(kind)] = kind
        if kind == "submitted":
            submitted.add(event.group(kind))
        if kind == "finished":
            rules[event.group(kind)] = event.group("rule")
    planned = re.search(r"Job stats:.*?^total\s+(\d+)$", log, flags=re.S | re.M)
    ended = {kind: sorted((job for job, k in last.items() if k == kind), key=int) for kind in ("finished", "failed")}
    return {"planned": int(planned.group(1)) if planned else None, "submitted": len(submitted),
            "finished": len(ended["finished"]), "failed": ended["failed"],
            "lost": sorted((job for job, k in last.items() if k == "submitted"), key=int),
            "finished_per_rule": dict(Counter(rules[job] for job in ended["finished"]))}


def run_slice(workdir: str, cluster: str):
    workdir, cluster = Path(workdir).resolve(), Path(cluster).resolve()
    (workdir / "slice.yaml").write_text(yaml.safe_dump(slice_config()))
    (workdir / "profiles/slice").mkdir(parents=True, exist_ok=True)
    (workdir / "profiles/slice/config.yaml").write_text(yaml.safe_dump(slice_profile()))
    env = {**os.environ, "SLURM_CONF": str(cluster / "slurm.conf"),
           "PATH": f"{cluster / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(workdir / "src")}
    command = ["nice", "-n", "19", "snakemake", "--profile", "profiles/slice", "--configfile", "slice.yaml"]
    with open(workdir / "slice.log", "w") as log:
        code = subprocess.run(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    outcome = read_log((workdir / "slice.log").read_text())
    slurm_logs = sorted((workdir / ".snakemake/slurm_logs").glob("rule_*/**/*.log"))
    outcome.update(exit_code=code, slurm_log_files=len(slurm_logs),
                   slurm_logs_per_rule=dict(Counter(p.relative_to(workdir / ".snakemake/slurm_logs").parts[0]
                                                    for p in slurm_logs)))
    print(json.dumps({"benchmark": "slurm_slice", **outcome}), flush=True)
