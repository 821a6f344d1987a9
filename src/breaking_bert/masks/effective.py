"""Effective sparsity: the share of masked connections among those on a path to the classifier's
input (docs/MASKS.md, "Effective sparsity").

The classifier reads [CLS]'s final state only. In the last layer, only [CLS]'s row reaches it; in a
layer below, the rows that some reachable row of the layer above may read (its mask's columns; the
diagonal carries the residual stream). A connection is effective when its row is reachable. Under
the [CLS]-global policy [CLS]'s row is always unmasked, so the last layer masks no effective
connection, whatever its mask: the paper's sparsity counts it, the classifier never sees it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from .storage import MaskSet


def reachable_rows(layer_masks: Sequence[np.ndarray | None], n: int) -> list[np.ndarray]:
    """Per layer (first to last), the (n,) bool rows whose output reaches [CLS]'s final state.
    ``layer_masks[l]``: the (n, n) mask of layer l, or None where the layer is unmasked."""
    rows = [np.zeros(n, dtype=bool) for _ in layer_masks]
    needed = np.zeros(n, dtype=bool)
    needed[0] = n > 0
    for layer in reversed(range(len(layer_masks))):
        rows[layer] = needed
        mask = layer_masks[layer]
        needed = np.full(n, needed.any()) if mask is None else mask[needed].any(axis=0)
    return rows


def effective_counts(layer_masks: Sequence[np.ndarray | None], n: int) -> tuple[int, int]:
    """(masked, total) effective connections of one example of n tokens in the whole model, each
    layer's mask given (None: unmasked, whose effective connections count in the total, so that
    masking half the layers masks about half as much as masking them all)."""
    masked = total = 0
    for mask, rows in zip(layer_masks, reachable_rows(layer_masks, n)):
        total += int(rows.sum()) * n
        if mask is not None:
            masked += int(rows.sum()) * n - int(mask[rows].sum())
    return masked, total


def effective_sparsity(mask: np.ndarray, masked_layers: Collection[int], num_layers: int) -> float:
    """masked / total effective connections of the model with ``mask`` at ``masked_layers`` and
    every other layer unmasked."""
    layer_masks = [mask if layer in masked_layers else None for layer in range(num_layers)]
    masked, total = effective_counts(layer_masks, mask.shape[0])
    return masked / total if total else 0.0


def effective_sparsities(masks: MaskSet, masked_layers: Collection[int], num_layers: int) -> np.ndarray:
    """(E,) effective sparsity of every example of a mask set under one placement."""
    layers = frozenset(masked_layers)
    return np.array([effective_sparsity(masks.mask(e), layers, num_layers) for e in range(len(masks))], dtype=np.float64)
