from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd

from breaking_bert.report.figures import pick_example, plot_mask_gallery
from breaking_bert.masks import MaskSet
from breaking_bert.models import load_tokenizer

tokens = pd.read_parquet(snakemake.input.tokens)
index = pick_example(tokens["input_ids"].map(len))
pieces = load_tokenizer(snakemake.params.model).convert_ids_to_tokens(list(tokens["input_ids"].iloc[index]))
masks = {name: MaskSet.load(path).mask(index) for name, path in zip(snakemake.params.patterns, snakemake.input.masks)}
plot_mask_gallery(pieces, masks, snakemake.output[0], title=f"{snakemake.wildcards.task}, eval example {index}")
