"""Helpers the rules share: config validation, the run grid, and library files as rerun triggers."""

from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../../config/schema.yaml", set_default=True)

LIBRARY = Path(workflow.basedir) / "src" / "breaking_bert"
ENVS = "../../envs"


wildcard_constraints:
    task="|".join(config["tasks"]),
    pattern="|".join(config["patterns"]),
    placement=r"all|early|late|none|layer\d+|from\d+",
    seed=r"\d+",
    split="train|eval",


def library(*modules):
    """Library files a rule's result depends on. Snakemake does not track what a script imports,
    so they are declared as inputs: editing one reruns exactly the rules that list it.
    """
    return [str(LIBRARY / f"{module}.py") for module in modules]


def check_config_references():
    """Names used in experiments must exist; say which key is wrong and what is allowed."""
    for experiment, grid in config["experiments"].items():
        for key, known in (
            ("tasks", config["tasks"]),
            ("patterns", config["patterns"]),
        ):
            for name in grid[key]:
                if name not in known:
                    raise ValueError(
                        f"experiments.{experiment}.{key}: unknown name {name!r}; defined: {', '.join(known)}"
                    )
    for name, pattern in config["patterns"].items():
        if (
            pattern["kind"] == "matched_random"
            and pattern.get("reference") not in config["patterns"]
        ):
            raise ValueError(f"patterns.{name}.reference must name another pattern")


check_config_references()


def pattern_needs(pattern):
    """What a pattern's masks are built from: 'parse' and/or 'embeddings'.

    Mirrors PatternSpec.needs in src/breaking_bert/masks.py (tests check they agree): the
    scheduling process does not import the library, which under --sdm conda lives only in the
    rules' envs."""
    kind = config["patterns"][pattern]["kind"]
    if kind == "matched_random":
        return set()
    return {"syntax": {"parse"}, "lexical": {"embeddings"}}.get(kind, set())


def is_dense(pattern):
    return config["patterns"][pattern]["kind"] == "dense"


def get_runs():
    """(task, pattern, placement, seed) for every finetune job: the union of the experiments,
    plus one dense baseline per task (placement 'none': no layer is masked)."""
    cells = set()
    for grid in config["experiments"].values():
        for task in grid["tasks"]:
            for pattern in grid["patterns"]:
                placements = ["none"] if is_dense(pattern) else grid["placements"]
                cells.update((task, pattern, placement) for placement in placements)
    dense = [name for name in config["patterns"] if is_dense(name)]
    if not dense:
        raise ValueError("patterns: define one pattern of kind dense (the baseline)")
    cells.update((task, dense[0], "none") for task, _, _ in list(cells))
    return [(t, p, pl, s) for (t, p, pl) in sorted(cells) for s in config["seeds"]]


def run_dir(task, pattern, placement, seed):
    return f"results/runs/{task}/{pattern}/{placement}/seed{seed}"


def get_metrics_files():
    return [f"{run_dir(*run)}/metrics.json" for run in get_runs()]


def get_mask_summaries():
    pairs = sorted({(t, p) for t, p, _, _ in get_runs() if not is_dense(p)})
    return [f"results/masks/{t}/{p}/summary.json" for t, p in pairs]


def get_gallery_patterns(wildcards):
    """Sparse patterns run on this task, in config order."""
    used = {p for t, p, _, _ in get_runs() if t == wildcards.task and not is_dense(p)}
    return [name for name in config["patterns"] if name in used]


def get_gallery_masks(wildcards):
    return [
        f"results/masks/{wildcards.task}/{name}/eval.npz"
        for name in get_gallery_patterns(wildcards)
    ]


def get_final_outputs():
    tasks = sorted({task for task, _, _, _ in get_runs()})
    return [f"results/figures/masks_{task}.png" for task in tasks] + [
        "results/tables/runs.csv",
        "results/tables/summary.md",
        "results/tables/sparsity.md",
        "results/figures/score_by_pattern_and_placement.png",
    ]


def get_mask_inputs(wildcards):
    """Tokens always; parses, model embeddings or a reference mask set only when the pattern needs them."""
    needs = pattern_needs(wildcards.pattern)
    inputs = {
        "train_tokens": f"results/tokens/{wildcards.task}/train.parquet",
        "eval_tokens": f"results/tokens/{wildcards.task}/eval.parquet",
        "code": library("masks", "parse"),
    }
    if "parse" in needs:
        inputs["train_parses"] = f"results/parses/{wildcards.task}/train.parquet"
        inputs["eval_parses"] = f"results/parses/{wildcards.task}/eval.parquet"
    reference = config["patterns"][wildcards.pattern].get("reference")
    if config["patterns"][wildcards.pattern]["kind"] == "matched_random":
        inputs["reference_train"] = (
            f"results/masks/{wildcards.task}/{reference}/train.npz"
        )
        inputs["reference_eval"] = (
            f"results/masks/{wildcards.task}/{reference}/eval.npz"
        )
    return inputs


def get_finetune_inputs(wildcards):
    inputs = {
        "train_tokens": f"results/tokens/{wildcards.task}/train.parquet",
        "eval_tokens": f"results/tokens/{wildcards.task}/eval.parquet",
        "labels": f"results/data/{wildcards.task}/labels.json",
        "code": library("finetune", "attention", "devices", "tracking", "models"),
    }
    if not is_dense(wildcards.pattern):
        mask_dir = f"results/masks/{wildcards.task}/{wildcards.pattern}"
        inputs.update(
            train_masks=f"{mask_dir}/train.npz",
            eval_masks=f"{mask_dir}/eval.npz",
            mask_summary=f"{mask_dir}/summary.json",
        )
    if config["tracking"]["enabled"]:
        inputs["tracking"] = "results/mlflow/experiment.json"
    return inputs
