import json
import sys

from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd

from breaking_bert.models import load_tokenizer
from breaking_bert.data import tokenize_to_parquet

tokenizer = load_tokenizer(snakemake.params.model)
summary = {}
for split in ("train", "eval"):
    summary[split] = tokenize_to_parquet(
        pd.read_parquet(snakemake.input[split]), tokenizer, snakemake.params.model["max_length"], snakemake.output[split]
    )
    print(f"{split}: {summary[split]}", file=sys.stderr)
with open(snakemake.output.summary, "w") as handle:
    json.dump(summary, handle, indent=2)
