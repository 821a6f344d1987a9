import json
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import numpy as np
import pandas as pd
import torch

from breaking_bert.cost import mask_cost, retained_mass_table
from breaking_bert.masks import MaskSet
from breaking_bert.models import resolve_model_path

settings = snakemake.params.settings
torch.set_num_threads(max(1, snakemake.threads))
tokens = pd.read_parquet(snakemake.input.tokens, columns=["input_ids", "token_type_ids"])
masks = MaskSet.load(snakemake.input.masks)

from transformers import AutoModel

model = AutoModel.from_pretrained(
    resolve_model_path(snakemake.params.model["name_or_path"]),
    attn_implementation="eager",  # eager returns the attention probabilities
    trust_remote_code=bool(snakemake.params.model.get("trust_remote_code", False)),
).eval()
head_dim = model.config.hidden_size // model.config.num_attention_heads

costs = pd.DataFrame([mask_cost(masks.mask(i), head_dim, settings["block_sizes"]) for i in range(len(masks))])
summary = {
    "task": snakemake.wildcards.task,
    "pattern": snakemake.wildcards.pattern,
    "examples": len(costs),
    "flops_fraction": float(costs["flops_sparse"].sum() / costs["flops_dense"].sum()),
    "score_memory_fraction": float(costs["score_memory_sparse"].sum() / costs["score_memory_dense"].sum()),
    **{c: float(costs[c].mean()) for c in costs.columns if c.startswith("blocks_non_empty_fraction")},
}
with open(snakemake.output.cost, "w") as handle:
    json.dump(summary, handle, indent=2)

table = retained_mass_table(model, tokens, masks, settings["retained_examples"])
layers, heads = np.indices(table.shape)
pd.DataFrame(
    {"task": snakemake.wildcards.task, "pattern": snakemake.wildcards.pattern, "layer": layers.ravel(),
     "head": heads.ravel(), "retained_mass": table.ravel()}
).to_csv(snakemake.output.retained, index=False)
