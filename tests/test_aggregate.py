"""Aggregation math on constructed tables."""

import json

import numpy as np
import pandas as pd
import pytest

from breaking_bert.aggregate import load_runs, summarize, to_markdown


def _runs():
    rows = []
    for seed, (dense, late, all_) in enumerate([(0.80, 0.79, 0.60), (0.82, 0.80, 0.64), (0.84, 0.78, 0.62)]):
        rows += [
            {"task": "t", "pattern": "dense", "kind": "dense", "placement": "none", "seed": seed, "metric": "accuracy",
             "score": dense, "sparsity_mean": 0.0, "train_samples_per_second": 100.0},
            {"task": "t", "pattern": "nb", "kind": "neighbour", "placement": "late", "seed": seed, "metric": "accuracy",
             "score": late, "sparsity_mean": 0.78, "train_samples_per_second": 99.0},
            {"task": "t", "pattern": "nb", "kind": "neighbour", "placement": "all", "seed": seed, "metric": "accuracy",
             "score": all_, "sparsity_mean": 0.78, "train_samples_per_second": 98.0},
        ]
    return pd.DataFrame(rows)


def test_summary_mean_spread_and_delta_vs_dense():
    summary = summarize(_runs()).set_index(["pattern", "placement"])
    dense = summary.loc[("dense", "none")]
    assert dense["score_mean"] == pytest.approx(0.82) and dense["score_std"] == pytest.approx(0.02)
    late = summary.loc[("nb", "late")]
    assert late["seeds"] == 3
    assert late["score_mean"] == pytest.approx(0.79)
    assert late["score_std"] == pytest.approx(0.01)
    assert late["delta_vs_dense"] == pytest.approx(-0.03)
    assert late["delta_se"] == pytest.approx(np.sqrt(0.01**2 / 3 + 0.02**2 / 3))
    assert summary.loc[("nb", "all"), "delta_vs_dense"] == pytest.approx(0.62 - 0.82)
    assert dense["delta_vs_dense"] == pytest.approx(0.0)


def test_single_seed_has_no_spread_and_tasks_use_their_own_dense():
    runs = _runs()
    other = runs.copy()
    other["task"] = "u"
    other["score"] = other["score"] - 0.1
    summary = summarize(pd.concat([runs[runs.seed == 0], other])).set_index(["task", "pattern", "placement"])
    assert np.isnan(summary.loc[("t", "nb", "late"), "score_std"]), "one seed: no spread, not a spread of 0"
    assert "| - |" in to_markdown(summary.reset_index()[["pattern", "score_std"]].head(1))
    assert summary.loc[("t", "nb", "late"), "delta_vs_dense"] == pytest.approx(0.79 - 0.80)
    assert summary.loc[("u", "nb", "late"), "delta_vs_dense"] == pytest.approx(-0.03)


def test_load_runs_reads_metrics_files(tmp_path):
    paths = []
    for i, row in _runs().iterrows():
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps({**row.to_dict(), "history": [], "extra": 1}))
        paths.append(path)
    runs = load_runs(paths)
    assert len(runs) == 9 and runs["score"].sum() == pytest.approx(_runs()["score"].sum())


def test_markdown_table():
    text = to_markdown(pd.DataFrame({"a": ["x"], "b": [0.5]}))
    assert text.splitlines() == ["| a | b |", "| --- | --- |", "| x | 0.5000 |"]


def test_degrees_become_typed_columns_beside_their_text(tmp_path):
    """mask_degrees -> 'g=1 w=3 r=0' for people and one integer column per degree name for code;
    no degree (dense) or one per example (a list) leave the typed columns empty."""
    from breaking_bert.vocabulary import degrees_from_columns

    cases = {"bb": {"g": 1, "w": 3, "r": 0}, "per_example": [{"k": 2}, {"k": 3}], "dense": None}
    paths = []
    for pattern, degrees in cases.items():
        paths.append(tmp_path / f"{pattern}.json")
        paths[-1].write_text(json.dumps({"task": "t", "pattern": pattern, "seed": 0, "score": 0.5, "mask_degrees": degrees}))
    runs = load_runs(paths).set_index("pattern")
    assert runs.loc["bb", "degrees"] == "g=1 w=3 r=0"
    assert (runs.loc["bb", "degree_g"], runs.loc["bb", "degree_w"], runs.loc["bb", "degree_r"]) == (1, 3, 0)
    assert str(runs["degree_w"].dtype) == "Int64" and pd.isna(runs.loc["bb", "degree_k"])
    assert runs.loc[["per_example", "dense"], [c for c in runs if c.startswith("degree_")]].isna().all().all()
    assert degrees_from_columns(runs.loc["bb"]) == cases["bb"] and degrees_from_columns(runs.loc["dense"]) == {}
    from breaking_bert.aggregate import write_table

    written, markdown = tmp_path / "runs.csv", tmp_path / "runs.md"
    write_table(runs.reset_index(), written, markdown)
    assert degrees_from_columns(pd.read_csv(written).set_index("pattern").loc["bb"]) == cases["bb"], "read back from CSV"
    header = markdown.read_text().splitlines()[0]
    assert "| degrees |" in header and "degree_g" not in header, "people read the text, code the typed columns"


def test_learned_summary_splits_the_layers_into_early_and_late_halves_without_the_last(tmp_path):
    from breaking_bert.aggregate import load_learned_runs, load_learned_windows, summarize_learned

    paths = []
    for seed in range(2):
        windows = [[[layer + seed] * 2] * 3 for layer in range(4)]  # 4 layers x 3 heads x 2 classes
        paths.append(tmp_path / f"{seed}.json")
        paths[-1].write_text(json.dumps({"task": "t", "variant": "regular", "setting": "target0.7", "seed": seed,
                                         "metric": "accuracy", "score": 0.8, "sparsity_mean": 0.7,
                                         "learned_windows": windows}))
    summary = summarize_learned(load_learned_runs(paths), load_learned_windows(paths)).iloc[0]
    assert summary["seeds"] == 2
    assert summary["early_window"] == pytest.approx(1.0)  # layers 0, 1; seeds add 0 and 1
    # layer 2 only: the last layer's windows change no logit, so they count in neither half
    assert summary["late_window"] == pytest.approx(2.5)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_learned_summary_and_placement_on_the_smallest_models(tmp_path, layers):
    """BERT-Tiny's depth (2 layers) has no late half without its last layer, 1 layer neither half:
    the summary leaves them empty and the placement count says it cannot compare (a 2-layer run died
    with KeyError 'late_window', issue 39)."""
    from breaking_bert.aggregate import load_learned_runs, load_learned_windows, summarize_learned
    from breaking_bert.findings import learned_degree_placement

    path = tmp_path / "run.json"
    path.write_text(json.dumps({"task": "t", "variant": "regular", "setting": "target0.7", "seed": 0,
                                "metric": "accuracy", "score": 0.8, "sparsity_mean": 0.7,
                                "learned_windows": [[[4 - layer] * 2] * 3 for layer in range(layers)]}))
    summary = summarize_learned(load_learned_runs([path]), load_learned_windows([path]))
    assert pd.isna(summary.loc[0, "late_window"]) == (layers < 3)
    assert pd.isna(summary.loc[0, "early_window"]) == (layers < 2)
    text = learned_degree_placement(summary)
    if layers < 3:
        assert "in 0 of 0 learned settings (1 setting(s) on a model with too few layers" in text
    else:
        assert "in 1 of 1 learned settings (mean" in text
        # a frozen control trains with its learned run's windows: not counted a second time
        control = pd.concat([summary, summary.assign(variant="regular_frozen")], ignore_index=True)
        assert "in 1 of 1 learned settings (mean" in learned_degree_placement(control)
