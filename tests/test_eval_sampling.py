"""How much of a cell's spread over seeds is eval sampling (eval_sampling.py), on constructed runs."""

import json

import numpy as np
import pandas as pd
import pytest

from breaking_bert.eval_sampling import eval_sampling_section, eval_sampling_table, paired_bootstrap_variance
from breaking_bert.scoring import classification_metrics


def test_the_paired_bootstrap_variance_of_accuracy_is_the_per_example_difference_variance_over_n():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 800)
    baseline = np.where(rng.random(800) < 0.8, labels, 1 - labels)
    predicted = np.where(rng.random(800) < 0.15, 1 - baseline, baseline)  # disagrees on ~15%
    difference = (predicted == labels).astype(float) - (baseline == labels)
    expected = difference.var() / len(labels)
    assert paired_bootstrap_variance(predicted, baseline, labels, "accuracy", draws=4000) == pytest.approx(expected, rel=0.1)
    # identical predictions: the paired difference never moves; alone, the score does
    assert paired_bootstrap_variance(baseline, baseline, labels, "accuracy") == 0.0
    accuracy = float((baseline == labels).mean())
    alone = paired_bootstrap_variance(baseline, None, labels, "accuracy", draws=4000)
    assert alone == pytest.approx(accuracy * (1 - accuracy) / len(labels), rel=0.1)
    # other metrics resample through classification_metrics
    assert paired_bootstrap_variance(predicted, baseline, labels, "f1", draws=300) > 0


def _write(tmp_path, name, kind, placement, seed, predicted, labels):
    metrics = {"task": "t", "pattern": name, "kind": kind, "placement": placement, "seed": seed, "metric": "accuracy",
               "score": classification_metrics(np.asarray(predicted), np.asarray(labels), 2)["accuracy"],
               "eval_predictions": list(map(int, predicted)), "eval_labels": list(map(int, labels))}
    path = tmp_path / f"{name}-{placement}-{seed}.json"
    path.write_text(json.dumps(metrics))
    return path


def test_the_table_sets_each_cells_seed_spread_beside_its_eval_sampling(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400)
    paths = []
    for seed in range(4):
        dense = np.where(rng.random(400) < 0.85, labels, 1 - labels)
        paths.append(_write(tmp_path, "dense", "dense", "none", seed, dense, labels))
        # 'noisy' flips a fresh 10% of dense's predictions each seed; 'twin' is dense itself
        paths.append(_write(tmp_path, "noisy", "neighbour", "all", seed, np.where(rng.random(400) < 0.1, 1 - dense, dense), labels))
        paths.append(_write(tmp_path, "twin", "neighbour", "all", seed, dense, labels))
    (tmp_path / "old.json").write_text(json.dumps({"task": "t", "pattern": "noisy", "seed": 9}))  # no predictions
    table = eval_sampling_table([*paths, tmp_path / "old.json"], draws=500).set_index("pattern")
    assert table.loc["noisy", "seeds"] == 4 and table.loc["noisy", "eval examples"] == 400
    # flips at random: the seed spread is all eval sampling, so the share is near 1
    assert 0.3 < table.loc["noisy", "eval sampling share"] < 3
    assert table.loc["twin", "eval sampling sd"] == 0 and np.isnan(table.loc["twin", "eval sampling share"])
    assert table.loc["dense", "eval sampling sd"] == pytest.approx((0.85 * 0.15 / 400) ** 0.5, rel=0.2)
    section = eval_sampling_section(table.reset_index())
    assert "Median share of the seed variance" in section and "over 1 cells" in section
    assert "No sparse cell" in eval_sampling_section(pd.DataFrame(columns=table.reset_index().columns))
