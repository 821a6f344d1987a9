"""The design: which seeds every cell runs, and the runs of each look of a sequential design
(`seeds: {initial, max, step}`), read from the look checkpoints (workflow/rules/looks.smk).
"""

sequential = importlib.import_module("breaking_bert.stats.sequential")
# seeds: a list (the fixed design, one look) or {initial, max, step} (docs/EXPERIMENTS.md,
# "Sequential design"): then seeds 0 .. initial - 1 of every cell, and more only where the look
# checkpoints (workflow/rules/looks.smk) find cells undecided
DESIGN = sequential.Design.from_config(config["seeds"])
LAST_LOOK = len(DESIGN.looks) - 1


def first_look_seeds():
    """The seeds every cell runs: all of a fixed design's, a sequential design's first look's."""
    if DESIGN.sequential:
        return list(range(DESIGN.looks[0]))
    return list(config["seeds"])


def continuing_after(look):
    """The run groups the look checkpoint `look` gave more seeds ({"runs": [[task, pattern,
    placement], ...], "learned": [[task, variant, setting], ...]}); it runs first when needed.
    """
    with open(checkpoints.look.get(look=look).output.decisions) as handle:
        return json.load(handle)["continuing"]


def runs_through(look):
    """(finetune runs, learned runs) of the design through look `look`: the first look's, and
    after each earlier look the next seeds of the groups it gave more."""
    runs, learned = get_runs(), get_learned_runs()
    for earlier in range(look):
        going = continuing_after(earlier)
        seeds = range(DESIGN.looks[earlier], DESIGN.looks[earlier + 1])
        runs += [
            (*group, seed) for group in map(tuple, going["runs"]) for seed in seeds
        ]
        learned += [
            (*group, seed) for group in map(tuple, going["learned"]) for seed in seeds
        ]
    return runs, learned


# The seeds design, as a file that the looks, aggregations and findings read (the `design` job):
# Snakemake takes a job whose output exists as done while a checkpoint that its input function
# reads has not run (by design: snakemake PR 4124), so a findings report made under another design
# stood in for this one's ("Nothing to be done"; measured on experiment 2 after adding the
# sequential overlay). A changed design reruns the `design` job, and so every job that reads it:
# their input functions are evaluated again and the first look is made.
DESIGN_FILE = summary_path("looks/design.json")


def get_metrics_files(wildcards=None, look=LAST_LOOK):
    return [f"{run_dir(*run)}/metrics.json" for run in runs_through(look)[0]]


def get_mask_summaries(wildcards=None):
    runs = runs_through(LAST_LOOK)[0]
    dirs = sorted({mask_dir(t, p, s) for t, p, _, s in runs if not is_dense(p)})
    return [f"{directory}/summary.json" for directory in dirs]


def get_learned_metrics_files(wildcards=None, look=LAST_LOOK):
    return [f"{learned_dir(*run)}/metrics.json" for run in runs_through(look)[1]]
