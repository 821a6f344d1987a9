import json
import sys

from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd

from breaking_bert.masks import (
    MaskOptions,
    MaskSet,
    build_split_masks,
    check_achieved_sparsity,
    draw_seed,
    mask_inputs_for_split,
    resolve_dataset_degrees,
)
from breaking_bert.models import load_input_embeddings
from breaking_bert.vocabulary import get_kind, parse_draw

pattern = snakemake.params.pattern
run_seed = parse_draw(snakemake.wildcards.draw)
draw = {"draw": snakemake.wildcards.draw}
if run_seed is not None:  # this run seed's own draw of the pattern's random links
    draw.update(run_seed=run_seed, pattern_seed=pattern["seed"])
    pattern = {**pattern, "seed": draw_seed(pattern["seed"], run_seed)}
options = MaskOptions(
    special_tokens=pattern.get("special_tokens", snakemake.params.options["special_tokens"]),
    cross_segment=snakemake.params.options["cross_segment"],
)
needs = get_kind(pattern["kind"]).needs
embeddings = load_input_embeddings(snakemake.params.model) if "embeddings" in needs else None

examples = {}
for split in ("train", "eval"):
    parses = pd.read_parquet(snakemake.input[f"{split}_parses"]) if "parse" in needs else None
    examples[split] = mask_inputs_for_split(pd.read_parquet(snakemake.input[f"{split}_tokens"]), parses, embeddings, needs)

degrees = resolve_dataset_degrees(
    examples["train"],
    pattern,
    options,
    snakemake.params.options["solve_sample"],
    snakemake.params.options["tolerance"],
    snakemake.wildcards.pattern,
)
print(f"degrees for every example: {degrees}", file=sys.stderr)
summary = {
    "task": snakemake.wildcards.task,
    "pattern": snakemake.wildcards.pattern,
    **draw,
    "config": pattern,
    "degrees": degrees,
}
for split in ("train", "eval"):
    reference = MaskSet.load(snakemake.input[f"reference_{split}"]) if "reference" in needs else None
    mask_set = build_split_masks(examples[split], pattern, options, degrees, reference, progress_desc=f"masks {split}",
                                 tolerance=snakemake.params.options["tolerance"], name=snakemake.wildcards.pattern)
    if split == "train":
        check_achieved_sparsity(mask_set, pattern, snakemake.params.options["tolerance"], snakemake.wildcards.pattern)
    mask_set.save(snakemake.output[split])
    summary[split] = mask_set.summary()
    print(f"{split}: {summary[split]}", file=sys.stderr)
with open(snakemake.output.summary, "w") as handle:
    json.dump(summary, handle, indent=2)
