"""Per-seed runs tables built by hand for the findings' and the decision rule's tests: the columns
aggregation writes, the scores given."""

import pandas as pd

from breaking_bert.vocabulary import degree_columns, grid_point_name, parse_degrees

DENSE = [0.80, 0.81, 0.82]


def _runs(cells, task="t", dense=DENSE, effective=None):
    """cells: {(pattern, kind, placement, degrees, sparsity): [score per seed]} plus the dense
    baseline, as the per-seed runs table; ``effective``: {pattern: effective sparsity}, else the
    sparsity."""
    effective = effective or {}
    rows = [{"task": task, "pattern": "dense", "kind": "dense", "placement": "none", "degrees": "",
             **degree_columns(None), "seed": s, "metric": "accuracy", "score": v, "sparsity_mean": 0.0,
             "effective_sparsity_mean": 0.0, "train_samples_per_second": 1.0} for s, v in enumerate(dense)]
    for (pattern, kind, placement, degrees, sparsity), scores in cells.items():
        # as aggregation writes them: the text and the typed columns
        rows += [{"task": task, "pattern": pattern, "kind": kind, "placement": placement, "degrees": degrees,
                  **degree_columns(parse_degrees(degrees)), "seed": s, "metric": "accuracy", "score": v,
                  "sparsity_mean": sparsity, "effective_sparsity_mean": effective.get(pattern, sparsity),
                  "train_samples_per_second": 1.0} for s, v in enumerate(scores)]
    return pd.DataFrame(rows)


def _placements(late, every, pattern="neighbour", sparsity=0.78):
    return {(pattern, pattern, "late", "w=2", sparsity): late, (pattern, pattern, "all", "w=2", sparsity): every}


def _spread(score, k):
    """Three seeds around ``score``, with noise of their own for each k (cells whose seeds moved in
    lockstep would give paired differences with no spread, which the rule cannot judge)."""
    return [score - 0.01 + 0.002 * k, score + 0.001 * k, score + 0.01 - 0.003 * k]


def _four(scores):
    return {(kind, kind, "all", "k=1", 0.78): _spread(s, k) for k, (kind, s) in enumerate(scores.items())}


def _bigbird(full, no_g, no_w, no_r, grid="bb", sparsity=None):
    points = {"g=1 w=2 r=2": full, "g=0 w=2 r=2": no_g, "g=1 w=0 r=2": no_w, "g=1 w=2 r=0": no_r}
    sparsity = sparsity or {}
    return {(grid_point_name(grid, parse_degrees(d)), "bigbird", "all", d, sparsity.get(d, 0.6)): _spread(s, k)
            for k, (d, s) in enumerate(points.items())}


def _learned(points, task="t", variant="regular", parked=0.0):
    """points: [(effective sparsity, [score per seed])] -> the learned runs table; ``parked``: how
    much sparser the paper's sparsity says they are (sparsity parked in the last layer)."""
    return pd.DataFrame([{"task": task, "variant": variant, "setting": f"target{sparsity}", "seed": seed,
                          "score": score, "sparsity_mean": sparsity + parked, "effective_sparsity_mean": sparsity}
                         for sparsity, scores in points for seed, score in enumerate(scores)])
