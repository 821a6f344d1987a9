"""Breaking BERT: evaluate and optimize sparsified attention in BERT.

The science lives here and is importable without Snakemake; the workflow's scripts are thin
adapters around these modules (one module per DAG stage, same name as its rule file).
"""

__version__ = "0.1.0"
