from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd

from breaking_bert.data import load_parser, parse_frame

nlp = load_parser(snakemake.params.parser["model"])
frame = pd.read_parquet(snakemake.input.split)
parse_frame(nlp, frame, snakemake.params.parser["batch_size"]).to_parquet(snakemake.output[0], index=False)
