"""What the sampling of the eval set adds to a cell's uncertainty (eval_sampling.py), on
constructed runs: per-example jackknife values, the crossed seeds x examples variance components,
and the table the report prints."""

import json

import numpy as np
import pandas as pd
import pytest

from breaking_bert.stats.differences import crossed_variances
from breaking_bert.stats.eval_sampling import eval_sampling_section, eval_sampling_table, influence_values
from breaking_bert.scoring import classification_metrics


@pytest.mark.parametrize("metric", ["accuracy", "f1", "matthews"])
def test_jackknife_values_average_to_the_metric_and_spread_as_its_sampling_error(metric):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 600)
    predicted = np.where(rng.random(600) < 0.8, labels, 1 - labels)
    values = influence_values(predicted, labels, metric, 2)
    whole = classification_metrics(predicted, labels, 2)[metric]
    assert values.mean() == pytest.approx(whole, abs=2e-3)
    if metric == "accuracy":
        assert np.array_equal(values, (predicted == labels).astype(float))
    draws = rng.integers(0, 600, (3000, 600))
    bootstrap = np.var([classification_metrics(predicted[rows], labels[rows], 2)[metric] for rows in draws])
    assert values.var(ddof=1) / 600 == pytest.approx(bootstrap, rel=0.15)


def test_crossed_variances_separate_the_seeds_from_the_eval_set():
    """y = seed + example + residual with SDs 0.02, 0.3, 0.4 on 5 seeds x 2000 examples: the seed
    part estimates var(seed) / S + var(residual) / (S I), the eval-set part var(example) / I."""
    rng = np.random.default_rng(3)
    seeds, examples = 5, 2000
    found = []
    for _ in range(200):
        values = (rng.normal(0, 0.02, (seeds, 1)) + rng.normal(0, 0.3, (1, examples))
                  + rng.normal(0, 0.4, (seeds, examples)))
        found.append(crossed_variances(values)[:2])
    seed_part, eval_part = np.mean(found, axis=0)
    assert seed_part == pytest.approx(0.02**2 / seeds + 0.4**2 / (seeds * examples), rel=0.15)
    assert eval_part == pytest.approx(0.3**2 / examples, rel=0.1)
    one = crossed_variances(rng.normal(0, 1, (1, 100)))
    assert np.isnan(one[0]) and one[1] > 0


def _write(tmp_path, name, kind, placement, seed, predicted, labels):
    metrics = {"task": "t", "pattern": name, "kind": kind, "placement": placement, "seed": seed, "metric": "accuracy",
               "score": classification_metrics(np.asarray(predicted), np.asarray(labels), 2)["accuracy"],
               "eval_predictions": list(map(int, predicted)), "eval_labels": list(map(int, labels))}
    path = tmp_path / f"{name}-{placement}-{seed}.json"
    path.write_text(json.dumps(metrics))
    return path


def test_the_table_sets_the_eval_sets_standard_error_beside_the_seeds(tmp_path):
    """dense gets the first 60 of 400 examples wrong at every seed (hard examples) and 3% more at
    random; 'noisy' flips a fresh 10% of dense's predictions at each seed (no example it shares
    between seeds: the eval set adds little); 'hard' is dense also wrong on 40 more examples at every
    seed (the eval set's luck with those dominates); 'twin' is dense itself."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400)
    paths = []
    for seed in range(4):
        wrong = (np.arange(400) < 60) | (rng.random(400) < 0.03)
        dense = np.where(wrong, 1 - labels, labels)
        paths.append(_write(tmp_path, "dense", "dense", "none", seed, dense, labels))
        paths.append(_write(tmp_path, "noisy", "neighbour", "all", seed, np.where(rng.random(400) < 0.1, 1 - dense, dense), labels))
        hard = np.where((np.arange(400) >= 360) | (rng.random(400) < 0.03), 1 - labels, dense)
        paths.append(_write(tmp_path, "hard", "neighbour", "late", seed, hard, labels))
        paths.append(_write(tmp_path, "twin", "neighbour", "early", seed, dense, labels))
    (tmp_path / "old.json").write_text(json.dumps({"task": "t", "pattern": "noisy", "seed": 9}))  # no predictions
    table = eval_sampling_table([*paths, tmp_path / "old.json"]).set_index("pattern")
    assert table.loc["noisy", "seeds"] == 4 and table.loc["noisy", "eval examples"] == 400
    assert table.loc["noisy", "eval set share"] < 0.25 < 0.6 < table.loc["hard", "eval set share"]
    assert table.loc["hard", "se from eval set"] == pytest.approx((0.1 * 0.9 / 400) ** 0.5, rel=0.25)
    assert table.loc["twin", "se of both"] == 0 and np.isnan(table.loc["twin", "eval set share"])
    assert table.loc["dense", "compared"] == "its score"
    assert table.loc["dense", "se from eval set"] == pytest.approx((0.15 * 0.85 / 400) ** 0.5, rel=0.25)
    section = eval_sampling_section(table.reset_index())
    assert "so their verdicts are about the task" in section and "over the 2 sparse cells" in section.lower(), "twin: no share"
    assert "No sparse cell" in eval_sampling_section(pd.DataFrame(columns=table.reset_index().columns))


def test_eval_values_are_attached_to_runs_by_what_they_are(tmp_path):
    from breaking_bert.tables import read_metrics as _load
    from breaking_bert.stats.differences import EVAL_VALUES
    from breaking_bert.stats.eval_sampling import attach_eval_values

    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 50)
    paths = [_write(tmp_path, name, kind, placement, seed, rng.integers(0, 2, 50), labels)
             for name, kind, placement in (("dense", "dense", "none"), ("n", "neighbour", "all")) for seed in range(3)]
    runs = _load(paths, ["task", "pattern", "placement", "seed", "eval_predictions", "eval_labels"])
    shuffled = runs.sample(frac=1, random_state=0).drop(columns=["eval_predictions", "eval_labels"])
    shuffled = pd.concat([shuffled, pd.DataFrame([{"task": "t", "pattern": "n", "placement": "all", "seed": 7}])])
    attached = attach_eval_values(shuffled, paths)
    for row, original in zip(attached.itertuples(), shuffled.itertuples()):
        assert (row.pattern, row.seed) == (original.pattern, original.seed), "rows stay where they were"
        if row.seed == 7:
            assert getattr(row, EVAL_VALUES) is None, "a run without predictions gets none"
            continue
        kept = runs[(runs["pattern"] == row.pattern) & (runs["seed"] == row.seed)].iloc[0]
        assert np.array_equal(getattr(row, EVAL_VALUES), (np.asarray(kept.eval_predictions) == labels).astype(float))


def test_runs_that_predict_one_class_for_every_example_are_named(tmp_path):
    from breaking_bert.tables import read_metrics as _load
    from breaking_bert.stats.differences import COLLAPSED
    from breaking_bert.stats.eval_sampling import attach_eval_values, collapsed_runs

    labels = np.array([0, 1] * 20)
    fine = _write(tmp_path, "n", "neighbour", "all", 0, labels, labels)
    collapsed = _write(tmp_path, "n", "neighbour", "all", 1, np.zeros(40, dtype=int), labels)
    runs = _load([fine, collapsed], ["task", "pattern", "placement", "seed"])
    attached = attach_eval_values(runs, [fine, collapsed])
    assert attached[COLLAPSED].tolist() == [False, True]
    assert collapsed_runs(attached[attached["seed"] == 0]) == [] and collapsed_runs(None) == []
    (line, _) = collapsed_runs(attached, None)
    assert "t/n/all/seed1" in line and "seed0" not in line
    # a run of a one-class eval set predicting that class has not collapsed
    one_class = _write(tmp_path, "n", "neighbour", "all", 0, labels * 0, labels * 0)
    assert attach_eval_values(runs, [one_class, collapsed])[COLLAPSED].tolist() == [False, True]
