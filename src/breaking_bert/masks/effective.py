"""Effective sparsity: the share of the connections on a path to the classifier's input in the
unmasked model that the masked model does not use on such a path (docs/MASKS.md, "Effective
sparsity").

The classifier reads [CLS]'s final state only. In the last layer, only [CLS]'s row reaches it; in a
layer below, the rows that some reachable row of the layer above may read (its mask's columns; the
diagonal carries the residual stream). In the unmasked model that is every row below the last
layer and [CLS]'s row in it: (L - 1) n^2 + n connections, the denominator for every mask. A
masked model's effective connections are the allowed ones in its own reachable rows; everything
else of the denominator is masked, so a mask that cuts paths (and leaves rows unreachable) can only
raise its effective sparsity. Under the [CLS]-global policy [CLS]'s row is always unmasked, every
row below the last stays reachable, and the last layer masks no effective connection, whatever its
mask: the paper's sparsity counts it, the classifier never sees it.
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
    layer's mask given (None: unmasked). ``total`` is the unmasked model's, (layers - 1) n^2 + n;
    ``masked`` is total less the allowed connections of the masked model's reachable rows."""
    total = (len(layer_masks) - 1) * n * n + n if layer_masks and n else 0
    kept = 0
    for mask, rows in zip(layer_masks, reachable_rows(layer_masks, n)):
        kept += int(rows.sum()) * n if mask is None else int(mask[rows].sum())
    return total - kept, total


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
