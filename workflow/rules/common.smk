"""Helpers the rules share: config validation, the run grid, and library files as rerun triggers."""

import importlib.util
import itertools
import os
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../../config/schema.yaml", set_default=True)

LIBRARY = Path(workflow.basedir) / "src" / "breaking_bert"
ENVS = "../../envs"

# Every job imports this checkout's library, whatever environment runs it: a virtualenv whose
# editable install points at another clone, or a rule's conda env (which installs dependencies
# only). Jobs inherit the variable: local ones from this process, cluster ones parse this file too.
# (Set, not read: the envvars directive, which the linter asks for, asserts a variable the user
# must supply.)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [str(LIBRARY.parent), os.getenv("PYTHONPATH")])
    )
)


def load_vocabulary():
    """The experiment's terms (pattern kinds, placements, draws, names): the library's own module,
    imported from this checkout. It and the package's __init__ and kinds need the standard library
    only, so the scheduling process needs none of the library's dependencies (under --sdm conda
    they live in the rules' envs).
    """
    spec = importlib.util.spec_from_file_location(
        "breaking_bert",
        LIBRARY / "__init__.py",
        submodule_search_locations=[str(LIBRARY)],
    )
    package = importlib.util.module_from_spec(spec)
    # this checkout's, whatever copy is installed
    sys.modules["breaking_bert"] = package
    spec.loader.exec_module(package)
    return importlib.import_module("breaking_bert.vocabulary")


vocabulary = load_vocabulary()


def check_kinds():
    """Pattern kinds are the vocabulary's (the schema leaves them open, so that a new kind is one
    builder in kinds.py): name the key, the unknown kind and the known ones."""
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
            # the schema's pattern defaults, which validate() filled in for the named patterns
            config["patterns"][name] = {
                "kind": grid["kind"],
                "degrees": degrees,
                "seed": grid.get("seed", 0),
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


def canonical(value):
    """A param as Snakemake should compare it. Snakemake compares params by repr(), where a dict's
    key order counts: keys sorted, recursively, so reordering a YAML file reruns nothing. Defaults
    are the schema's, filled in by validate() above whether a key is written or not."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def only(section, keys):
    """The keys of a config section that a job reads, canonical (see docs/DESIGN.md, reruns)."""
    return canonical({key: section[key] for key in keys if key in section})


def without(section, keys):
    return canonical({key: value for key, value in section.items() if key not in keys})


# what each job reads of the config; a key outside these reruns none of those jobs
TASK_DATA_KEYS_NOT_READ = ("metric",)  # the metric is the finetune's business
TRAINING_KEYS_NOT_READ = ("save_model",)  # an output (the model folder), not a param
LEARNED_SWEEP_KEYS = (
    "tasks",
    "variants",
    "controls",
    "targets",
    "penalties",
)  # the grid; a job is one point
COST_KEYS = ("block_sizes", "retained_examples")
KERNEL_TIMING_KEYS = (
    "timing_patterns",
    "timing_lengths",
    "timing_sparsity",
    "block_size",
    "timing_repeats",
)
TRACKING_KEYS = ("uri", "experiment", "artifact_location", "log_every_steps")


def get_task_params(wildcards):
    return canonical(config["tasks"][wildcards.task])


def get_task_data_params(wildcards):
    return without(config["tasks"][wildcards.task], TASK_DATA_KEYS_NOT_READ)


def get_training_params():
    return without(config["training"], TRAINING_KEYS_NOT_READ)


def get_learned_params():
    return without(config.get("learned_sparsity", {}), LEARNED_SWEEP_KEYS)


def get_model_output(run_directory):
    """training.save_model: the final weights as a declared output of every finetune job."""
    if config["training"]["save_model"]:
        return {"model": directory(f"{run_directory}/model")}
    return {}


def get_task_files(wildcards):
    """Every local file a task reads (its path, its eval_path; every text of a folders task), so
    that editing one reruns the data stage and what depends on it. A hub task reads none.
    """
    task = config["tasks"][wildcards.task]
    if task["source"] == "hub":
        return []
    paths = [task["path"]] + ([task["eval_path"]] if task.get("eval_path") else [])
    files = []
    for path in (preflight.resolve_data_path(path, wildcards.task) for path in paths):
        if task["source"] == "folders":
            files += sorted(str(file) for file in path.glob("*/*.txt"))
        else:
            files.append(str(path))
    return files


def library(*modules):
    """Library files a rule's result depends on. Snakemake does not track what a script imports,
    so they are declared as inputs: editing one reruns exactly the rules that list it. A file
    the script imports but never runs may be left out (tests/test_config.py lists those).
    """
    files = []
    # a module (masks/storage), or every file of a package (masks)
    for name in modules:
        package = LIBRARY / name
        if package.is_dir():
            files += sorted(str(path) for path in package.glob("*.py"))
        else:
            files.append(str(LIBRARY / f"{name}.py"))
    return files


def check_config_references():
    """Names used in experiments must exist; say which key is wrong and what is allowed."""
    for name in config.get("learned_sparsity", {}).get("tasks", []):
        if name not in config["tasks"]:
            raise ValueError(
                f"learned_sparsity.tasks: unknown name {name!r}; defined: {', '.join(config['tasks'])}"
            )
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
            "reference" in vocabulary.get_kind(pattern["kind"]).needs
            and pattern.get("reference") not in config["patterns"]
        ):
            raise ValueError(f"patterns.{name}.reference must name another pattern")


check_config_references()


def pattern_needs(pattern):
    """What a pattern's masks are built from beyond the tokens: 'parse', 'embeddings', 'reference'."""
    return vocabulary.get_kind(config["patterns"][pattern]["kind"]).needs


def mask_draw(pattern, seed):
    """Which masks a run of this pattern uses: a random pattern draws its masks anew for every run
    seed (`seed<k>`), so the spread over seeds covers the draw; the others have one set (`fixed`).
    """
    return vocabulary.mask_draw(config["patterns"][pattern]["kind"], seed)


def mask_dir(task, pattern, seed):
    return f"results/masks/{task}/{pattern}/{mask_draw(pattern, seed)}"


def first_seed():
    """The run seed whose mask draw stands for a pattern where one set is shown (gallery, cost)."""
    return config["seeds"][0]


def is_dense(pattern):
    """The baseline: no masks, placement none."""
    return vocabulary.get_kind(config["patterns"][pattern]["kind"]).baseline


def get_runs():
    """(task, pattern, placement, seed) for every finetune job: the union of the experiments,
    plus one dense baseline per task, learned-sparsity tasks included (placement 'none': no
    layer is masked)."""
    cells = set()
    for grid in config["experiments"].values():
        for task in grid["tasks"]:
            for pattern in grid["patterns"]:
                placements = ["none"] if is_dense(pattern) else grid["placements"]
                cells.update((task, pattern, placement) for placement in placements)
    dense = [name for name in config["patterns"] if is_dense(name)]
    if not dense:
        raise ValueError("patterns: define one pattern of kind dense (the baseline)")
    learned_tasks = config.get("learned_sparsity", {}).get("tasks", [])
    tasks = {task for task, _, _ in cells} | set(learned_tasks)
    cells.update((task, dense[0], "none") for task in tasks)
    return [(t, p, pl, s) for (t, p, pl) in sorted(cells) for s in config["seeds"]]


preflight = importlib.import_module("breaking_bert.preflight")


def check_plan():
    """Everything the config, the model's config.json, the data files and the tracking store tell
    before the first job (breaking_bert.preflight); a problem stops the plan, on screen.
    """
    tasks = sorted({task for task, _, _, _ in get_runs()})
    preflight.check_plan(config, tasks, is_dense)


check_plan()


def run_dir(task, pattern, placement, seed):
    return f"results/runs/{task}/{pattern}/{placement}/seed{seed}"


def get_metrics_files():
    return [f"{run_dir(*run)}/metrics.json" for run in get_runs()]


def get_mask_summaries():
    dirs = sorted({mask_dir(t, p, s) for t, p, _, s in get_runs() if not is_dense(p)})
    return [f"{directory}/summary.json" for directory in dirs]


def get_gallery_patterns(wildcards):
    """Sparse patterns run on this task, in config order; of a pattern grid only its last point
    (every degree at its largest), so the gallery stays readable."""
    used = {p for t, p, _, _ in get_runs() if t == wildcards.task and not is_dense(p)}
    last_of_grid = {grid: name for name, grid in GRID_OF.items() if name in used}
    return [
        name
        for name in config["patterns"]
        if name in used and (name not in GRID_OF or last_of_grid[GRID_OF[name]] == name)
    ]


def get_gallery_masks(wildcards):
    return [
        f"{mask_dir(wildcards.task, name, first_seed())}/eval.npz"
        for name in get_gallery_patterns(wildcards)
    ]


def get_learned_runs():
    """(task, variant, setting, seed) of every experiment-3 job; setting = penalty<x> or target<x>.
    With learned_sparsity.controls, each learned run has a control `<variant>_frozen`: its final
    windows, fixed, trained again from the pretrained model."""
    learned = config.get("learned_sparsity")
    if not learned:
        return []
    objective = learned["objective"]
    values = learned["penalties"] if objective == "penalty" else learned["targets"]
    variants = learned["variants"] + (
        [vocabulary.control_of(variant) for variant in learned["variants"]]
        if learned["controls"]
        else []
    )
    return [
        (task, variant, vocabulary.setting_name(objective, value), seed)
        for task in learned["tasks"]
        for variant in variants
        for value in values
        for seed in config["seeds"]
    ]


def learned_dir(task, variant, setting, seed):
    return f"results/learned/{task}/{variant}/{setting}/seed{seed}"


def get_learned_metrics_files():
    return [f"{learned_dir(*run)}/metrics.json" for run in get_learned_runs()]


def has_placement_sweep():
    return any(
        placement.startswith(("layer", "from")) for _, _, placement, _ in get_runs()
    )


def get_final_outputs():
    tasks = sorted({task for task, _, _, _ in get_runs()})
    outputs = [f"results/figures/masks_{task}.png" for task in tasks] + [
        "results/tables/runs.csv",
        "results/tables/summary.md",
        "results/tables/sparsity.md",
        "results/figures/score_by_pattern_and_placement.png",
        "results/figures/score_vs_sparsity.png",
        "results/findings.md",
    ]
    if has_placement_sweep():
        outputs.append("results/figures/layer_sweep.png")
    learned_tasks = sorted({task for task, _, _, _ in get_learned_runs()})
    outputs += [f"results/figures/learned_degrees_{task}.png" for task in learned_tasks]
    if config["cost"]["enabled"]:
        outputs += [
            "results/tables/cost.csv",
            "results/figures/retained_mass.png",
            "results/figures/kernel_timing.png",
        ]
    return outputs


def get_cost_files(name):
    """results/cost/<task>/<pattern>/<name> for every sparse pattern that a finetune job uses."""
    pairs = sorted({(t, p) for t, p, _, _ in get_runs() if not is_dense(p)})
    return [f"results/cost/{t}/{p}/{name}" for t, p in pairs]


def get_mask_inputs(wildcards):
    """Tokens always; parses, model embeddings or a reference mask set only when the pattern needs them."""
    needs = pattern_needs(wildcards.pattern)
    inputs = {
        "train_tokens": f"results/tokens/{wildcards.task}/train.parquet",
        "eval_tokens": f"results/tokens/{wildcards.task}/eval.parquet",
        "code": library("masks", "parse", "vocabulary", "kinds", "models"),
    }
    if "parse" in needs:
        inputs["train_parses"] = f"results/parses/{wildcards.task}/train.parquet"
        inputs["eval_parses"] = f"results/parses/{wildcards.task}/eval.parquet"
    if "reference" in needs:
        reference = config["patterns"][wildcards.pattern]["reference"]
        seed = vocabulary.parse_draw(wildcards.draw)
        reference_dir = mask_dir(wildcards.task, reference, seed)
        inputs["reference_train"] = f"{reference_dir}/train.npz"
        inputs["reference_eval"] = f"{reference_dir}/eval.npz"
    return inputs


def tracking_input():
    """The MLflow experiment a job logs to. ancient(): where the results are logged is no part of
    them, so a new store (tracking.uri) reruns init_tracking and no training job."""
    return ancient("results/mlflow/experiment.json")


def get_finetune_inputs(wildcards):
    inputs = {
        "train_tokens": f"results/tokens/{wildcards.task}/train.parquet",
        "eval_tokens": f"results/tokens/{wildcards.task}/eval.parquet",
        "labels": f"results/data/{wildcards.task}/labels.json",
        # what runs in the job (tests/test_config.py checks the list against the script's imports):
        # not learned/ (it runs in learn_degrees jobs only) nor the mask builders (the mask files
        # carry their changes), so editing them reruns only what they change
        "code": library(
            "finetune",
            "attention",
            "devices",
            "tracking",
            "models",
            "vocabulary",
            "identity",
            "masks/storage",
            "masks/effective",
            "scoring",
        ),
    }
    if not is_dense(wildcards.pattern):
        masks = mask_dir(wildcards.task, wildcards.pattern, wildcards.seed)
        inputs.update(
            train_masks=f"{masks}/train.npz",
            eval_masks=f"{masks}/eval.npz",
            mask_summary=f"{masks}/summary.json",
        )
    if config["tracking"]["enabled"]:
        inputs["tracking"] = tracking_input()
    return inputs


def get_learned_inputs(wildcards):
    inputs = {
        "train_tokens": f"results/tokens/{wildcards.task}/train.parquet",
        "eval_tokens": f"results/tokens/{wildcards.task}/eval.parquet",
        "labels": f"results/data/{wildcards.task}/labels.json",
        "code": library(
            "finetune",
            "attention",
            "learned",
            "devices",
            "tracking",
            "models",
            "vocabulary",
            "identity",
            "masks/storage",
            "masks/effective",
            "scoring",
        ),
    }
    if vocabulary.is_control(wildcards.variant):  # the learned run's final windows
        learned_run = learned_dir(
            wildcards.task,
            vocabulary.learned_variant(wildcards.variant),
            wildcards.setting,
            wildcards.seed,
        )
        inputs["learned_run"] = f"{learned_run}/metrics.json"
    if config["tracking"]["enabled"]:
        inputs["tracking"] = tracking_input()
    return inputs


def get_score_vs_sparsity_inputs(wildcards):
    inputs = {
        "summary": "results/tables/summary.csv",
        "code": library("figures", "vocabulary"),
    }
    if get_learned_runs():
        inputs["learned"] = "results/tables/learned_summary.csv"
    return inputs


def get_findings_inputs(wildcards):
    inputs = {
        "runs": "results/tables/runs.csv",
        "summary": "results/tables/summary.csv",
        "eval_sampling": "results/tables/eval_sampling.csv",
        "code": library(
            "findings",
            "decision",
            "aggregate",
            "vocabulary",
            "eval_sampling",
            "scoring",
        ),
    }
    if get_learned_runs():
        inputs["learned_runs"] = "results/tables/learned_runs.csv"
        inputs["learned_summary"] = "results/tables/learned_summary.csv"
    if config["cost"]["enabled"]:
        inputs["retained"] = "results/tables/retained_mass.csv"
        inputs["cost"] = "results/tables/cost.csv"
    return inputs
