"""The config, validated and expanded (pattern grids), and the jobs' resources: what every other
file here and every rule reads (library.smk, included before, imports the vocabulary).
"""

import errno
import importlib.util
import itertools
import json
import math
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../../../config/schema.yaml", set_default=True)
# filled in as validate fills a default: jobs read it as they run (their MLflow experiment and
# workflow run, tracking/workflow_run.py), where a param or an input would retrain the runs configs share
config["results_name"] = RESULTS_NAME
ENVS = "../../envs"


def memory_mb(base, per_input_mb=0, per_input_file=0, model_copies=0):
    """A rule's mem_mb: a base (the interpreter, its libraries) plus what grows with the job's data,
    as multiples of the size (MiB) and count of the files it reads, and for the jobs that load the
    model its fp32 weights ``model_copies`` times (a number, or a function of the wildcards).
    Snakemake evaluates it when the job's inputs exist, so small tasks reserve little and long-text
    tasks enough; the factors come from each rule's measured peak (docs/BENCHMARKS.md, ``./run.sh
    memory``)."""

    def mem_mb(wildcards, input):
        copies = model_copies(wildcards) if callable(model_copies) else model_copies
        return int(
            base
            + per_input_mb * input.size_mb
            + per_input_file * len(input)
            + copies * MODEL_WEIGHTS_MB
        )

    return mem_mb


def runtime_minutes(base, per_input_mb=0):
    """A rule's runtime (minutes, what SLURM enforces): a base plus minutes per MiB the job reads,
    from its measured wall time on one core with room for a slower one (docs/BENCHMARKS.md); a
    job resubmitted after running out of time asks for as many times more as its attempt.
    """

    def runtime(wildcards, input, attempt):
        return math.ceil(base + per_input_mb * input.size_mb) * attempt

    return runtime


def kernel_timing_runtime(wildcards, attempt):
    """One compilation and a few timed calls per length x pattern x kernel: a generous 2 minutes
    each (never measured on a GPU; 34 s in all for the tiny config's one length on CPU).
    """
    timings = len(config["cost"]["timing_lengths"]) * len(
        config["cost"]["timing_patterns"]
    )
    return (10 + 2 * timings) * attempt


def check_kinds():
    """Pattern kinds are the vocabulary's: kinds.py's and those a user's installed package registers
    (the schema leaves them open): name the key, the unknown kind and the known ones."""
    for section, known in (
        ("patterns", vocabulary.KINDS),
        ("pattern_grids", vocabulary.GRID_KINDS),
    ):
        for name, pattern in config.get(section, {}).items():
            if pattern["kind"] not in known:
                raise ValueError(
                    f"{section}.{name}.kind: unknown pattern kind {pattern['kind']!r}; known: {', '.join(known)}"
                )


check_kinds()


GRID_OF = {}  # generated pattern name -> its grid


def expand_pattern_grids():
    """pattern_grids.<grid>: a Cartesian grid of degrees (e.g. BigBird's g x w x r, zeros included
    so each component can be removed), expanded into named patterns <grid>_g1_w3_r0. An experiment
    lists the grid's name to run all of its points."""
    for grid_name, grid in config.get("pattern_grids", {}).items():
        # BigBird's order (g, w, r) first, so names do not depend on the YAML's key order
        keys = vocabulary.degree_order(grid["degrees"])
        names = []
        for values in itertools.product(*(grid["degrees"][key] for key in keys)):
            degrees = dict(zip(keys, values))
            name = vocabulary.grid_point_name(grid_name, degrees)
            # the keys validate() fills in for a named pattern; a grid point gives its degrees, so
            # `solve` is never used (per_dataset, not the schema's per_example: changing it would
            # rerun every grid point's masks for nothing)
            config["patterns"][name] = {
                "kind": grid["kind"],
                "degrees": degrees,
                "seed": grid["seed"],
                "solve": "per_dataset",
            }
            if "special_tokens" in grid:
                config["patterns"][name]["special_tokens"] = grid["special_tokens"]
            names.append(name)
            GRID_OF[name] = grid_name
        for experiment in config["experiments"].values():
            patterns = experiment["patterns"]
            if grid_name in patterns:
                at = patterns.index(grid_name)
                experiment["patterns"] = patterns[:at] + names + patterns[at + 1 :]


expand_pattern_grids()


wildcard_constraints:
    task="|".join(config["tasks"]),
    pattern="|".join(config["patterns"]),
    placement=vocabulary.PLACEMENT_REGEX,
    seed=r"\d+",
    draw=vocabulary.DRAW_REGEX,
    split="train|eval",
    variant=vocabulary.VARIANT_REGEX,
    setting=vocabulary.SETTING_REGEX,


# a training job's mem_mb and runtime: from the model's shape, the batch and the device, and for
# the runtime the task's size, from the tokens stage's summary beside the job's tokens
job_resources = importlib.import_module("breaking_bert.resources.training")
MODEL_WEIGHTS_MB = job_resources.model_weights_mb(config["model"])


def training_memory(learned=False):
    """A training rule's mem_mb (resources.training.training_memory_mb), more on each attempt. A
    learned run also keeps soft windows per head and attention score for the backward pass: on CPU
    at 8 x 256 wordpieces it peaked at 4.5 GB (docs/BENCHMARKS.md), more than the finetune formula
    gives; not yet modelled, so its earlier 8 GB stands as a floor."""

    def mem_mb(wildcards, attempt):
        needed = job_resources.training_memory_mb(
            config["model"], config["training"], attempt
        )
        growth = 1 + job_resources.RETRY_MEMORY_GROWTH * (attempt - 1)
        return max(needed, int(8000 * growth)) if learned else needed

    return mem_mb


def training_runtime(learned=False):
    """A training rule's runtime (minutes; resources.training.training_runtime_minutes)."""

    def runtime(wildcards, input, threads, attempt):
        if not Path(input.train_tokens).exists():
            # Snakemake reads this as "not known yet" and evaluates again before the job runs
            raise FileNotFoundError(errno.ENOENT, "not made yet", input.train_tokens)
        summary = Path(input.train_tokens).with_name("summary.json")
        tokens = json.loads(summary.read_text()) if summary.exists() else None
        return job_resources.training_runtime_minutes(
            config["model"], config["training"], tokens, threads, attempt, learned
        )

    return runtime
