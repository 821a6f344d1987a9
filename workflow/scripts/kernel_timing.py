import sys

from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd
import torch

from breaking_bert.attention import compile_cache_for_this_cpu
from breaking_bert.cost import kernel_timing_rows, synthetic_masks
from breaking_bert.resources.devices import GPU_SLOTS, claim_device

compile_cache_for_this_cpu()  # before anything compiles: kernels cached under another ISA fail here

settings = snakemake.params.settings
torch.set_num_threads(max(1, snakemake.threads))
masks = synthetic_masks(settings["timing_patterns"], settings["timing_lengths"], settings["timing_sparsity"])
# a whole GPU, every slot of it: a device shared with finetune jobs would time them too
claim = claim_device("auto", GPU_SLOTS, snakemake.config["training"]["jobs_per_gpu"], exclusive=True)
rows = kernel_timing_rows(masks, settings["block_size"], settings["timing_repeats"], claim.device)
claim.release()
print(pd.DataFrame(rows).to_string(), file=sys.stderr)
pd.DataFrame(rows).to_csv(snakemake.output[0], index=False)
