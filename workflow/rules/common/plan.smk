"""The run grid and where its results go: the references between config sections checked, the
mask draws and run folders, the runs, the plan checked before the first job, the final outputs.
"""


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


# Where each job's results go, defined once (vocabulary): the rules' output templates, the input
# functions' concrete paths and the results pages (findings/page.py) are all made from these
MASK_DIR, RUN_DIR, LEARNED_DIR = (
    vocabulary.MASK_DIR,
    vocabulary.RUN_DIR,
    vocabulary.LEARNED_DIR,
)


def mask_dir(task, pattern, seed):
    return MASK_DIR.format(task=task, pattern=pattern, draw=mask_draw(pattern, seed))


def first_seed():
    """The run seed whose mask draw stands for a pattern where one set is shown (gallery, cost)."""
    return first_look_seeds()[0]


def is_dense(pattern):
    """The baseline: no masks, placement none."""
    return vocabulary.get_kind(config["patterns"][pattern]["kind"]).baseline


def get_runs():
    """(task, pattern, placement, seed) for every finetune job of the first look (of a fixed design:
    every job): the union of the experiments, plus one dense baseline per task, learned-sparsity
    tasks included (placement 'none': no layer is masked)."""
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
    return [(t, p, pl, s) for (t, p, pl) in sorted(cells) for s in first_look_seeds()]


preflight = importlib.import_module("breaking_bert.preflight")


def check_plan():
    """Everything the config, the model's config.json, the data files and the tracking store tell
    before the first job (breaking_bert.preflight); a problem stops the plan, on screen.
    """
    tasks = sorted({task for task, _, _, _ in get_runs()})
    preflight.check_plan(config, tasks, is_dense)
    if DESIGN.sequential and workflow.is_main_process:
        # a dry run lists the first look's jobs only: say what follows
        print(
            f"{DESIGN.describe()}. The plan holds the first look's jobs; each `look` checkpoint then "
            "schedules the next seeds of the cells still undecided, so more jobs may follow.",
            file=sys.stderr,
        )


check_plan()


def run_dir(task, pattern, placement, seed):
    return RUN_DIR.format(task=task, pattern=pattern, placement=placement, seed=seed)


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
        for seed in first_look_seeds()
    ]


def learned_dir(task, variant, setting, seed):
    return LEARNED_DIR.format(task=task, variant=variant, setting=setting, seed=seed)


def has_placement_sweep():
    return any(
        vocabulary.sweep_of(placement) is not None for _, _, placement, _ in get_runs()
    )


def has_pattern_and_placement_cells():
    return any(
        vocabulary.in_pattern_and_placement_chart(
            config["patterns"][pattern]["kind"], placement
        )
        for _, pattern, placement, _ in get_runs()
    )


def get_final_outputs():
    tasks = sorted({task for task, _, _, _ in get_runs()})
    outputs = [summary_path(f"figures/masks_{task}.png") for task in tasks] + [
        summary_path("tables/runs.csv"),
        summary_path("tables/summary.md"),
        summary_path("tables/sparsity.md"),
        summary_path("figures/score_vs_sparsity.png"),
        summary_path("findings.md"),
    ]
    if has_pattern_and_placement_cells():
        outputs.append(summary_path("figures/score_by_pattern_and_placement.png"))
    if has_placement_sweep():
        outputs.append(summary_path("figures/layer_sweep.png"))
    learned_tasks = sorted({task for task, _, _, _ in get_learned_runs()})
    outputs += [
        summary_path(f"figures/learned_degrees_{task}.png") for task in learned_tasks
    ]
    if config["cost"]["enabled"]:
        outputs += [
            summary_path("tables/cost.csv"),
            summary_path("figures/retained_mass.png"),
            summary_path("figures/kernel_timing.png"),
        ]
    return outputs
