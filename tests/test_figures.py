"""Each figure draws its table's numbers: bar heights, points and heatmap cells read back from the
matplotlib figure (captured instead of closed) and compared with the table they were drawn from."""

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from breaking_bert.report import figures
from breaking_bert.cost import plot_retained_mass


@pytest.fixture
def drawn(monkeypatch):
    """The figures a plot function makes, kept open for reading instead of closed."""
    kept, close = [], figures.plt.close
    monkeypatch.setattr(figures.plt, "close", kept.append)
    yield kept
    for figure in kept:
        close(figure)


def _summary():
    rows = [("dense", "dense", "none", "", 0.0, 0.80, 0.01)]
    for pattern, kind, sparsity in (("neighbour", "neighbour", 0.77), ("syntax", "syntax", 0.78)):
        for placement, score in (("all", 0.70), ("early", 0.74), ("late", 0.79)):
            rows.append((pattern, kind, placement, "", sparsity, score + (0.01 if kind == "syntax" else 0), 0.005))
    for degrees, sparsity, score in (("g=1 w=1 r=1", 0.75, 0.76), ("g=1 w=1 r=0", 0.78, 0.75)):
        rows.append((f"bb_{degrees.replace('=', '').replace(' ', '_')}", "bigbird", "all", degrees, sparsity, score, 0.004))
    frame = pd.DataFrame(rows, columns=["pattern", "kind", "placement", "degrees", "sparsity_mean", "score_mean", "score_std"])
    return frame.assign(task="rt", metric="accuracy", seeds=3)


def test_points_are_the_mean_scores_by_pattern_and_placement(drawn, tmp_path):
    """Points with whiskers, not bars: the axis spans the scores, and a bar cut above zero would
    draw differences out of proportion (a review of the pages)."""
    summary = _summary()
    figures.plot_score_by_pattern_and_placement(summary, tmp_path / "bars.png")
    (axis,) = drawn[0].axes
    assert not [c for c in axis.containers if isinstance(c, BarContainer)]
    bars = {container.get_label(): list(container.lines[0].get_ydata())
            for container in axis.containers if isinstance(container, ErrorbarContainer)}
    cells = summary.set_index(["placement", "pattern"])["score_mean"]
    # one bar series per placement, in order all, early, late; a bar per pattern (neighbour, syntax)
    assert list(bars) == ["all", "early", "late"], "experiment 1's placements; BigBird and dense drawn elsewhere"
    for placement, heights in bars.items():
        assert heights == pytest.approx([cells[(placement, "neighbour")], cells[(placement, "syntax")]])
    assert [line.get_ydata()[0] for line in axis.get_lines() if line.get_label() == "dense (band: 1 SD)"] == [0.80]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["neighbour\n(sparsity 0.77)", "syntax\n(sparsity 0.78)"]


def test_score_vs_sparsity_puts_each_cell_at_its_sparsity_and_the_frontier_in_order(drawn, tmp_path):
    summary = _summary()
    learned = pd.DataFrame({"task": "rt", "variant": "regular", "setting": ["target0.85", "target0.6"],
                            "sparsity_mean": [0.85, 0.60], "score_mean": [0.74, 0.79], "score_std": [0.01, 0.01]})
    figures.plot_score_vs_sparsity(summary, tmp_path / "frontier.png", learned)
    (axis,) = drawn[0].axes
    series = {container.get_label(): container.lines[0] for container in axis.containers if isinstance(container, ErrorbarContainer)}
    frontier = series.pop("learned (regular)")
    assert list(frontier.get_xdata()) == [0.60, 0.85] and list(frontier.get_ydata()) == [0.79, 0.74], "sorted by sparsity"
    all_layers = summary[(summary["placement"] == "all") & (summary["kind"] != "dense")]
    assert set(series) == set(all_layers["kind"])
    for kind, line in series.items():
        cells = all_layers[all_layers["kind"] == kind]
        assert list(line.get_xdata()) == list(cells["sparsity_mean"]) and list(line.get_ydata()) == list(cells["score_mean"])
    assert {t.get_text() for t in axis.texts} == {"g=1,w=1,r=1", "g=1,w=1,r=0"}, "BigBird points named by degrees"
    assert [line.get_ydata()[0] for line in axis.get_lines() if line.get_label() == "dense (band: 1 SD)"] == [0.80]


def test_score_vs_sparsity_has_a_panel_at_the_effective_sparsity_finding_4_compares_at(drawn, tmp_path):
    summary = _summary().assign(effective_sparsity_mean=lambda t: t["sparsity_mean"] - 0.05)
    learned = pd.DataFrame({"task": "rt", "variant": "regular", "setting": ["target0.6"], "sparsity_mean": [0.58],
                            "effective_sparsity_mean": [0.60], "score_mean": [0.79], "score_std": [0.01]})
    figures.plot_score_vs_sparsity(summary, tmp_path / "two.png", learned)
    achieved, effective = drawn[0].axes
    assert effective.get_xlabel().startswith("effective sparsity") and achieved.get_xlabel().startswith("achieved")
    series = {c.get_label(): c.lines[0] for c in effective.containers if isinstance(c, ErrorbarContainer)}
    assert list(series.pop("learned (regular)").get_xdata()) == [0.60]
    all_layers = summary[(summary["placement"] == "all") & (summary["kind"] != "dense")]
    for kind, line in series.items():
        assert list(line.get_xdata()) == list(all_layers.loc[all_layers["kind"] == kind, "effective_sparsity_mean"])


def test_learned_windows_heatmap_is_the_mean_over_seeds_and_classes(drawn, tmp_path):
    """Drawn from the typed windows table that aggregation writes from the runs' metrics."""
    from breaking_bert.aggregate import load_learned_windows

    windows = [np.arange(2 * 3 * 2).reshape(2, 3, 2) + seed for seed in range(3)]  # layer x head x class
    paths = []
    for seed, w in enumerate(windows):
        paths.append(tmp_path / f"metrics{seed}.json")
        paths[-1].write_text(json.dumps({"task": "rt", "variant": "regular", "setting": "target0.7", "seed": seed,
                                         "learned_windows": w.tolist()}))
    table = load_learned_windows(paths)
    assert len(table) == 3 * 2 * 3 * 2 and table["window"].dtype == float
    control = table.assign(variant="regular_frozen")  # trains with the learned run's windows: not drawn again
    figures.plot_learned_degrees(pd.concat([table, control]), "rt", tmp_path / "windows.png")
    panels = [ax for ax in drawn[0].axes if ax.get_images()]
    assert len(panels) == 1, "the frozen control's panel repeats the learned run's"
    image = panels[0].get_images()[0].get_array()
    expected = np.mean(windows, axis=0).mean(-1)
    assert np.allclose(image[:-1], expected[:-1]) and image.mask[-1].all(), "the last layer is greyed out, not drawn as learned"


def test_cells_that_ran_different_seeds_say_how_many(drawn, tmp_path):
    """A sequential design stops decided cells early: each bar and point then says its n."""
    summary = _summary()
    summary.loc[summary["pattern"] == "neighbour", "seeds"] = 7
    figures.plot_score_by_pattern_and_placement(summary, tmp_path / "bars.png")
    labels = [t.get_text() for t in drawn[0].axes[0].texts]
    assert labels.count("n=7") == 3 and labels.count("n=3") == 3, labels  # neighbour and syntax, 3 placements
    figures.plot_score_vs_sparsity(summary, tmp_path / "frontier.png")
    assert {t.get_text() for t in drawn[1].axes[0].texts} == {"n=7", "n=3", "g=1,w=1,r=1 n=3", "g=1,w=1,r=0 n=3"}
    assert figures.seeds_label(_summary()) is None, "equal seeds: nothing added"


def test_axes_are_honest_and_every_figure_has_a_vector_copy(drawn, tmp_path):
    """Points at one sparsity get a plain, readable x axis (no '1e-5+7.8e-1' offset); the bars'
    axis spans the bars, not up to 1 regardless; the retained-mass plot has a tick per layer and
    says what its bands are; each figure is saved as a PDF beside its PNG."""
    summary = _summary()
    summary.loc[summary["kind"] != "dense", "sparsity_mean"] = 0.78 + 1e-6 * np.arange((summary["kind"] != "dense").sum())
    figures.plot_score_vs_sparsity(summary, tmp_path / "frontier.png")
    axis = drawn[0].axes[0]
    drawn[0].canvas.draw()
    assert axis.xaxis.get_major_formatter().get_offset() == "" and axis.get_xlim() == pytest.approx((0.73, 0.83), abs=1e-4)
    figures.plot_score_by_pattern_and_placement(summary, tmp_path / "bars.png")
    low, high = drawn[1].axes[0].get_ylim()
    assert 0.80 + 0.01 < high < 0.85 and low < 0.70 - 0.005, (low, high)
    retained = pd.DataFrame([{"task": "rt", "pattern": p, "layer": layer, "head": head, "retained_mass": 0.5 + 0.1 * head}
                             for p in ("neighbour", "syntax") for layer in range(3) for head in range(2)])
    plot_retained_mass(retained, tmp_path / "retained.png")
    axis = drawn[2].axes[0]
    drawn[2].canvas.draw()
    assert all(float(t).is_integer() for t in axis.get_xticks() if 0 <= t <= 2)
    assert "band: lowest to highest head" in [t.get_text() for t in axis.get_legend().get_texts()]
    for name in ("frontier", "bars", "retained"):
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF") and (tmp_path / f"{name}.png").exists()


def test_a_layer_sweep_inside_the_noise_shows_pale(drawn, tmp_path):
    """The heatmap's scale reaches at least 4 dense SDs over seeds: a -0.009 when the dense runs
    spread by 0.01 is no saturated red (it was: the scale was the largest difference, at least 0.01)."""
    summary = _summary()
    sweep = pd.DataFrame({"pattern": "neighbour", "kind": "neighbour", "placement": [f"layer{i}" for i in range(4)],
                          "degrees": "", "sparsity_mean": 0.77, "score_mean": [0.801, 0.791, 0.80, 0.797],
                          "score_std": 0.005, "task": "rt", "metric": "accuracy", "seeds": 3})
    summary = pd.concat([summary, sweep], ignore_index=True)
    summary["delta_vs_dense"] = summary["score_mean"] - 0.80
    figures.plot_layer_sweep(summary, tmp_path / "sweep.png")
    image = drawn[0].axes[0].get_images()[0]
    assert image.get_clim() == pytest.approx((-0.04, 0.04)), "4 x the dense SD of 0.01"
    assert np.allclose(image.get_array()[0], [0.001, -0.009, 0.0, -0.003], atol=1e-9)


def test_a_bigbird_grid_is_labelled_on_its_frontier_and_no_labels_overprint(drawn, tmp_path):
    """The rehearsal's BBC panel: 27 BigBird points at scores 0.93-1.0 buried their labels in one
    another. Only the points no other beats (sparser and at least as good) are named, and no two
    labels left on a panel overlap."""
    rng = np.random.default_rng(0)
    grid = [(g, w, r) for g in (0, 1, 2) for w in (0, 1, 3) for r in (0, 1, 3)]
    rows = [("dense", "dense", "none", "", 0.0, 0.97, 0.01)]
    for g, w, r in grid:
        rows.append((f"bb_g{g}_w{w}_r{r}", "bigbird", "all", f"g={g} w={w} r={r}", 0.99 - 0.002 * (g + w + r),
                     0.93 + 0.07 * rng.random(), 0.01))
    summary = pd.DataFrame(rows, columns=["pattern", "kind", "placement", "degrees", "sparsity_mean", "score_mean",
                                          "score_std"]).assign(task="bbc", metric="accuracy", seeds=3)
    figures.plot_score_vs_sparsity(summary, tmp_path / "grid.png")
    (axis,) = drawn[0].axes
    cells = summary[summary["kind"] == "bigbird"]
    beaten = [((cells["sparsity_mean"] >= s) & (cells["score_mean"] >= m) & ((cells["sparsity_mean"] > s) | (cells["score_mean"] > m))).any()
              for s, m in zip(cells["sparsity_mean"], cells["score_mean"])]
    frontier = {d.replace(" ", ",") for d, b in zip(cells["degrees"], beaten) if not b}
    labels = [t for t in axis.texts if "=" in t.get_text()]
    assert 0 < len(frontier) < len(cells) and {t.get_text() for t in labels} <= frontier
    drawn[0].canvas.draw()
    boxes = [t.get_window_extent() for t in axis.texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), "labels overprint"
    note = [t.get_text() for t in axis.texts if "left out" in t.get_text()]
    assert len(labels) + sum(int(n.split()[0]) for n in note) == len(frontier), "every frontier label drawn or counted"
    assert "frontier" in axis.get_title()


def test_a_degree_grid_is_one_band_in_the_retained_mass_plot(drawn, tmp_path):
    """A GPU-box config's 27 BigBird points made the plot's legend cover the panel (the rehearsal):
    a grid is drawn as its median over points and one band from its lowest to its highest point."""
    rows = []
    for pattern, level in (("neighbour", 0.6), ("syntax_90", 0.5), *((f"bigbird_g{g}_w1_r0", 0.1 * g + 0.2) for g in range(4))):
        rows += [{"task": "rt", "pattern": pattern, "layer": layer, "head": head, "retained_mass": level + 0.01 * head}
                 for layer in range(3) for head in range(2)]
    plot_retained_mass(pd.DataFrame(rows), tmp_path / "retained.png")
    (axis,) = drawn[0].axes
    lines = {line.get_label(): list(line.get_ydata()) for line in axis.get_lines()}
    assert set(lines) == {"neighbour (mean over heads)", "syntax_90 (mean over heads)", "bigbird grid, 4 points: median"}
    assert lines["bigbird grid, 4 points: median"] == pytest.approx([np.median([0.205, 0.305, 0.405, 0.505])] * 3)
    labels = [text.get_text() for text in axis.get_legend().get_texts()]
    assert "bigbird grid: lowest to highest point (mean over heads)" in labels and len(labels) == 5
