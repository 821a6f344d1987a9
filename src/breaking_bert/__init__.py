"""Breaking BERT: evaluate and optimize sparsified attention in BERT.

The science lives here and is importable without Snakemake; the workflow's scripts are thin
adapters around these modules (one module per DAG stage, same name as its rule file).
"""

# the release (CHANGELOG.md's newest version heading, CITATION.cff's version; tests/test_config.py
# holds them equal); pyproject.toml reads it from here
__version__ = "0.2.0"
