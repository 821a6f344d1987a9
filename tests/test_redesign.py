"""The house's redesign (issue 18) changes no result: the same tiny runs with the library as it was
before the redesign (commit BASELINE, checked out from this repository's history) and as it is now
give identical metrics and masks. A later change that means to change results moves BASELINE."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = "cb1aa1b"  # the last commit before the vocabulary, masks and engine were split

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
training = TrainingConfig.from_dict({"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "checkpoint_every_steps": 2, "device": "cpu"}, 0)
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


def test_the_redesign_keeps_masks_and_metrics_identical(tiny_model_dir, prepared, tmp_path):
    baseline = tmp_path / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(baseline), BASELINE],
                   check=True, capture_output=True)
    try:
        before = _run(baseline / "src", tiny_model_dir, prepared, tmp_path / "before")
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline)], capture_output=True)
    after = _run(REPO / "src", tiny_model_dir, prepared, tmp_path / "after")
    assert after["learned"]["learned_windows"] and after["sparse"]["history"], "the runs ran"
    assert after == before
