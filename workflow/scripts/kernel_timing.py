import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd
import torch

from breaking_bert.cost import synthetic_mask, time_block_sparse_vs_dense
from breaking_bert.devices import claim_device

settings = snakemake.params.settings
torch.set_num_threads(max(1, snakemake.threads))
claim = claim_device("auto", "results/.gpu_slots")  # its own GPU, like a finetune job
device = claim.device
rows = []
for length in settings["timing_lengths"]:
    for kind in settings["timing_patterns"]:
        mask = synthetic_mask(kind, length, settings["timing_sparsity"])
        for backward in (False, True):
            if backward and device.startswith("cpu"):
                continue  # FlexAttention has no backward on CPU (torch 2.13)
            row = time_block_sparse_vs_dense(mask, block=settings["block_size"], repeats=settings["timing_repeats"],
                                             backward=backward, device=device)
            rows.append({"pattern": kind, **row})
            print(rows[-1], file=sys.stderr)
claim.release()
pd.DataFrame(rows).to_csv(snakemake.output[0], index=False)
