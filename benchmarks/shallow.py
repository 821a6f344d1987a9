"""The whole tiny DAG (every stage, the tests' tiny config) on 1-, 2- and 3-layer random BERTs: the
smallest models users run (BERT-Tiny has 2 layers), where an early and a late half may be empty.
python -m benchmarks shallow [FOLDER]: one JSON line per depth (exit status, seconds, what the
report says of the halves); each run's folder and log stay under FOLDER (default: a temp folder)."""

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from .common import MODEL, report

REPO = Path(__file__).resolve().parents[1]


def bench_shallow(folder: Path | None = None, depths=(1, 2, 3)) -> None:
    import pandas as pd
    import torch
    from transformers import BertForSequenceClassification

    from breaking_bert.models import load_tokenizer

    sys.path.insert(0, str(REPO / "tests"))
    from conftest import SENTENCES, copy_workflow, tiny_bert_config, tiny_config

    root = Path(folder or tempfile.mkdtemp(prefix="shallow-"))
    root.mkdir(parents=True, exist_ok=True)
    csv = root / "tiny.csv"
    rows = [{"text": f"{t} ({r})" if r else t, "label": label} for r in range(6) for t, label in SENTENCES]
    pd.DataFrame(rows).to_csv(csv, index=False)
    for layers in depths:
        directory = root / f"layers{layers}"
        shutil.rmtree(directory, ignore_errors=True)
        copy_workflow(directory)
        model = directory / "tiny-bert"
        torch.manual_seed(0)
        BertForSequenceClassification(tiny_bert_config(num_layers=layers)).save_pretrained(model)
        load_tokenizer(MODEL).save_pretrained(model)
        (directory / "test_config.yaml").write_text(yaml.safe_dump(tiny_config(model, csv)))
        started = time.time()
        result = subprocess.run([sys.executable, "-m", "snakemake", "--directory", str(directory), "--configfile",
                                 str(directory / "test_config.yaml"), "--cores", "2", "--keep-going",
                                 "--set-threads", "finetune=1"], capture_output=True, text=True)
        (directory / "run.log").write_text(result.stdout + result.stderr)
        findings = directory / "results/test_config/findings.md"
        text = findings.read_text() if findings.exists() else ""
        halves = re.search(r"in \d+ of \d+ learned settings( \([^)]*\))?", text)
        report("shallow", layers=layers, exit=result.returncode, seconds=round(time.time() - started),
               figures=len(list((directory / "results/test_config/figures").glob("*.png"))),
               halves=halves.group(0) if halves else None, folder=str(directory))
