import json

from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd
import torch

from breaking_bert.cost import cost_summary, retained_mass_frame, retained_mass_table
from breaking_bert.masks import MaskSet
from breaking_bert.models import load_model

settings = snakemake.params.settings
cell = {"task": snakemake.wildcards.task, "pattern": snakemake.wildcards.pattern}
torch.set_num_threads(max(1, snakemake.threads))
tokens = pd.read_parquet(snakemake.input.tokens, columns=["input_ids", "token_type_ids"])
masks = MaskSet.load(snakemake.input.masks)

model = load_model(snakemake.params.model, attn_implementation="eager").eval()  # eager returns the attention probabilities
head_dim = model.config.hidden_size // model.config.num_attention_heads

with open(snakemake.output.cost, "w") as handle:
    json.dump({**cell, **cost_summary(masks, head_dim, settings["block_sizes"])}, handle, indent=2)
table = retained_mass_table(model, tokens, masks, settings["retained_examples"])
retained_mass_frame(table, **cell).to_csv(snakemake.output.retained, index=False)
