"""The house's redesign (issue 18) changes no result: the same tiny runs and masks as the library
gave before the redesign. tests/data/redesign_baseline.json is RUN's output with the library of
commit cb1aa1b (the last before the vocabulary, masks and engine were split), made on 2026-11-30 by
running ``_run`` on that commit's src/ (git worktree add /tmp/b cb1aa1b); on the machine that made
it today's library gives it byte for byte. Masks, degrees, windows and accuracies must match
exactly everywhere; losses within 1e-5, since another CPU's kernels may round differently. A later
change that means to change these results regenerates the file and says so. Regenerated on
2026-11-30 (issue 26) the same way, with cb1aa1b's library: the held-out split became stratified,
so the fixture's train and eval rows changed; the masks' digests did not. Regenerated again on
2026-11-30 (issue 27) with the library of commit d061c2d, whose results mean to differ: the
learned budget counts effective connections (the learned run's windows and sparsity changed),
BigBird under like_words links [SEP] to the [CLS] its g makes global (its digest changed), and
evaluations report the effective sparsity. The refactors after it (issue 29) are held to this."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = Path(__file__).parent / "data" / "redesign_baseline.json"

RUN = r"""
import hashlib, json, sys
import numpy as np
from breaking_bert.finetune import FinetuneJob, TrainingConfig, run_finetune
from breaking_bert.learned import learned_config_for_setting
from breaking_bert.masks import MaskInputs, MaskOptions, build_mask, build_matched_random_mask, solve_degree_for_example

model_dir, train, evaluation, train_masks, eval_masks, scratch = sys.argv[1:]
out = {"masks": {}}
example = MaskInputs(word_ids=np.array([-1, 0, 1, 1, 2, 3, 4, 5, 6, -1, 7, 8, 9, -1]), segment_ids=np.array([0] * 10 + [1] * 4), example_index=4)
for kind, degrees, policy in (("neighbour", {"w": 2}, "cls_global"), ("random", {"k": 3}, "global"),
                              ("bigbird", {"g": 1, "w": 1, "r": 1}, "like_words"), ("global", {"g": 2}, "cls_global")):
    mask = build_mask(example, kind, degrees, MaskOptions(special_tokens=policy), seed=7)
    control = build_matched_random_mask(mask, example, MaskOptions(special_tokens=policy), seed=3)
    out["masks"][kind] = hashlib.sha256(np.packbits(mask).tobytes() + np.packbits(control).tobytes()).hexdigest()
out["masks"]["solved"] = solve_degree_for_example(example, "neighbour", 0.6)
# cls_only_last_layer off: it draws fewer dropout numbers than the computation the baseline recorded
training = TrainingConfig.from_dict({"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "checkpoint_every_steps": 2, "device": "cpu",
                                    "cls_only_last_layer": False}, 0)
common = dict(model_cfg={"name_or_path": model_dir}, train_tokens=train, eval_tokens=evaluation, num_labels=2, training=training,
              lock_dir=scratch + "/locks")
sparse = run_finetune(FinetuneJob(**common, train_masks=train_masks, eval_masks=eval_masks, placement="late", checkpoint_dir=scratch + "/a"))
learned = run_finetune(FinetuneJob(**common, placement="all", checkpoint_dir=scratch + "/b",
                                   learned=learned_config_for_setting({"objective": "target", "budget_sample": 32}, "regular", "target0.5")))
keys = ("score", "eval_accuracy", "eval_loss", "history", "eval_sparsity_mean", "learned_windows")
out["sparse"] = {k: sparse[k] for k in keys if k in sparse}
out["learned"] = {k: learned[k] for k in keys if k in learned}
print(json.dumps(out, sort_keys=True))
"""


def _run(source: Path, tiny_model_dir, prepared, scratch: Path) -> dict:
    scratch.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", RUN, str(tiny_model_dir), prepared["train"][0], prepared["eval"][0],
         prepared["train"][1], prepared["eval"][1], str(scratch)],
        capture_output=True, text=True, env={"PYTHONPATH": str(source), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _same(before, after, path="") -> list[str]:
    """Where two results differ: floats beyond 1e-5 (absolute), anything else at all."""
    if isinstance(before, dict) and isinstance(after, dict):
        if before.keys() != after.keys():
            return [f"{path}: keys {sorted(before)} vs {sorted(after)}"]
        return [d for key in before for d in _same(before[key], after[key], f"{path}.{key}")]
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{path}: {len(before)} vs {len(after)} items"]
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in _same(b, a, f"{path}[{i}]")]
    if isinstance(before, float) and isinstance(after, float) and not path.endswith(("accuracy", "f1", "matthews", "score")):
        return [] if abs(before - after) <= 1e-5 else [f"{path}: {before} vs {after}"]
    return [] if before == after else [f"{path}: {before!r} vs {after!r}"]


def test_the_redesign_keeps_masks_and_metrics_identical(tiny_model_dir, prepared, tmp_path):
    before = json.loads(BASELINE.read_text())
    after = _run(REPO / "src", tiny_model_dir, prepared, tmp_path / "after")
    assert after["learned"]["learned_windows"] and after["sparse"]["history"], "the runs ran"
    assert _same(before, after) == []
