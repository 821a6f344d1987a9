"""Effective sparsity (masks/effective.py): what a mask takes from the connections that reach the
classifier, for fixed patterns at each placement and for learned windows (issue 27)."""

import numpy as np
import pytest
import torch
from transformers import BertForSequenceClassification

from breaking_bert.attention import SparseAttention, implementation_name, register_sparse_attention, to_backend_mask
from breaking_bert.learned import (
    DensityBudget,
    LearnedBatch,
    LearnedConfig,
    LearnedNeighbourDegrees,
    per_example_effective_sparsity,
)
from breaking_bert.masks import MaskInputs, MaskOptions, build_mask, effective_sparsity, reachable_rows, sparsity
from breaking_bert.masks.effective import effective_counts
from breaking_bert.vocabulary import placement_layers
from conftest import tiny_bert_config

register_sparse_attention()
LAYERS = 4  # tiny_bert_config's depth


def _example(words=10):
    """[CLS] w0 .. w(words-1) [SEP], one piece per word."""
    return MaskInputs(word_ids=np.array([-1, *range(words), -1]), segment_ids=np.zeros(words + 2, dtype=int))


def _neighbour(policy="cls_global", words=10, w=1):
    return build_mask(_example(words), "neighbour", {"w": w}, MaskOptions(special_tokens=policy))


def _logits(mask: np.ndarray, layers: frozenset, seed=0):
    """Logits of one tiny random BERT on one example, with ``mask`` at ``layers`` (none: dense)."""
    torch.manual_seed(0)
    config = tiny_bert_config()
    config.initializer_range = 0.5  # logits that move visibly when a mask matters (0.02 gives ~1e-3 logits)
    config._attn_implementation = implementation_name("sdpa")
    model = BertForSequenceClassification(config).eval()
    n = mask.shape[0]
    ids = torch.randint(1000, 2000, (1, n), generator=torch.Generator().manual_seed(seed))
    padding = torch.ones(1, n, dtype=torch.long)
    allowed = torch.from_numpy(mask)[None]
    sparse = SparseAttention(to_backend_mask(allowed, padding, "sdpa", torch.float32), layers) if layers else None
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=padding, sparse_attention=sparse).logits


def test_a_last_layer_only_mask_under_cls_global_has_effective_sparsity_0_and_changes_no_logit():
    mask = _neighbour("cls_global")
    last = placement_layers(f"layer{LAYERS - 1}", LAYERS)
    assert sparsity(mask) > 0.6, "the paper's sparsity counts it"
    assert effective_sparsity(mask, last, LAYERS) == 0.0
    torch.testing.assert_close(_logits(mask, last), _logits(mask, frozenset()), atol=1e-6, rtol=0)
    # the layer below does change them: the check can fail
    below = placement_layers(f"layer{LAYERS - 2}", LAYERS)
    assert effective_sparsity(mask, below, LAYERS) > 0
    assert not torch.allclose(_logits(mask, below), _logits(mask, frozenset()), atol=1e-4)


def test_under_like_words_the_last_layer_masks_cls_s_own_row():
    mask = _neighbour("like_words")
    last = placement_layers(f"layer{LAYERS - 1}", LAYERS)
    n = mask.shape[0]
    masked, total = effective_counts([None] * (LAYERS - 1) + [mask], n)
    read = int(mask[0].sum())  # [CLS] reads itself and w0 in the last layer: those rows below, then all
    total_unmasked = (LAYERS - 1) * n * n + n  # the unmasked model's: the denominator of every mask
    assert (masked, total) == (total_unmasked - (read + read * n + (LAYERS - 2) * n * n), total_unmasked)
    assert effective_sparsity(mask, last, LAYERS) == pytest.approx(masked / total)
    assert not torch.allclose(_logits(mask, last), _logits(mask, frozenset()), atol=1e-4)


def test_effective_sparsity_counts_the_whole_models_reachable_connections():
    mask = _neighbour("cls_global")
    n, pattern_masked = mask.shape[0], int((~mask).sum())
    total = (LAYERS - 1) * n * n + n  # every row below the last ([CLS] reads them all), [CLS]'s row in the last
    every = effective_sparsity(mask, placement_layers("all", LAYERS), LAYERS)
    assert every == pytest.approx((LAYERS - 1) * pattern_masked / total)
    late = effective_sparsity(mask, placement_layers("late", LAYERS), LAYERS)
    assert late == pytest.approx(1 * pattern_masked / total), "late masks layers 2 and 3, of which only 2 counts"
    early = effective_sparsity(mask, placement_layers("early", LAYERS), LAYERS)
    assert early == pytest.approx(2 * pattern_masked / total)


def test_rows_no_reachable_row_reads_are_not_effective():
    """Under like_words with a window of 1 and no global token, [CLS] reads only its neighbour, so
    reachability shrinks layer by layer from the top."""
    mask = _neighbour("like_words", words=10, w=1)
    rows = reachable_rows([mask] * LAYERS, mask.shape[0])
    assert [int(r.sum()) for r in rows] == [4, 3, 2, 1]  # [CLS], then w0, then w1, ...
    n = mask.shape[0]
    masked, total = effective_counts([mask] * LAYERS, n)
    assert total == (LAYERS - 1) * n * n + n, "the unmasked model's reachable connections"
    kept = sum(int(mask[r].sum()) for r in rows)
    assert masked == total - kept, "the unreachable rows count as masked"


def test_cutting_paths_raises_effective_sparsity():
    """BigBird without g at the late layers under like_words isolates [CLS] from most of the input:
    it keeps fewer effective connections than the full point, so its effective sparsity is higher
    (counted in its own reachable rows, it scored 0.125 against the full point's 0.308)."""
    example = _example(words=30)
    options = MaskOptions(special_tokens="like_words")
    full = build_mask(example, "bigbird", {"g": 1, "w": 1, "r": 1}, options, seed=0)
    without_g = build_mask(example, "bigbird", {"g": 0, "w": 1, "r": 1}, options, seed=0)
    late = placement_layers("late", LAYERS)
    assert effective_sparsity(without_g, late, LAYERS) > effective_sparsity(full, late, LAYERS) > 0
    # and a superset of links never has a higher effective sparsity than its subset
    everything = np.ones_like(full)
    assert effective_sparsity(everything, late, LAYERS) == 0.0 <= effective_sparsity(full | without_g, late, LAYERS) \
        <= effective_sparsity(full, late, LAYERS)


def _hardened_masks(degrees, batch, example):
    """Per layer, the (n, n) hardened mask of one example (one head)."""
    n = int(batch.real_pairs[example, 0].diagonal().sum())
    return [degrees.weights(layer, batch)[example, 0, :n, :n].bool().numpy() for layer in range(degrees.radius.shape[0])]


def test_learned_effective_sparsity_is_the_masks_definition():
    config = LearnedConfig(ramp=2.0, initial_radius=1.0)
    degrees = LearnedNeighbourDegrees(3, 1, config)
    with torch.no_grad():
        degrees.radius.copy_(torch.tensor([[[1.0]], [[3.0]], [[0.0]]]))
    degrees.hard = True
    lengths = [9, 14]
    padding = torch.zeros(2, 14, dtype=torch.long)
    for row, n in enumerate(lengths):
        padding[row, :n] = 1
    batch = LearnedBatch.build(degrees, padding)
    for layer in range(3):
        batch.record(degrees.weights(layer, batch), hard=True)
    measured = per_example_effective_sparsity(batch).numpy()
    for example, n in enumerate(lengths):
        masked, total = effective_counts(_hardened_masks(degrees, batch, example), n)
        assert measured[example] == pytest.approx(masked / total, abs=1e-6)


def test_learned_last_layer_radii_cannot_buy_budget():
    """The budget counts effective connections: however sparse the last layer's windows, the
    layers below get the same windows, and the last layer's radii stay where they were."""
    config = LearnedConfig(ramp=2.0, target_sparsity=0.7)
    lengths = [12, 20, 31, 17, 25]
    budget = DensityBudget(lengths, 1, target_sparsity=0.7, separators=[[n - 1] for n in lengths])
    placed = {}
    for last_radius in (-0.99, 25.0):  # window 0 (as sparse as it gets) or every token
        degrees = LearnedNeighbourDegrees(4, 2, config)
        with torch.no_grad():
            degrees.radius.copy_(torch.arange(8, dtype=torch.float32).view(4, 2, 1) / 2)
            degrees.radius[-1] = last_radius
        budget.hold(degrees)
        assert float(degrees.radius.detach()[-1].min()) == pytest.approx(max(last_radius, config.min_radius))
        placed[last_radius] = degrees.windows()[:-1].clone()
        assert 1 - budget.density(degrees.windows()) == pytest.approx(0.7, abs=0.02)
    assert torch.equal(placed[-0.99], placed[25.0])
    windows = degrees.windows().clone()
    windows[-1] = 0
    assert budget.density(windows) == budget.density(degrees.windows()), "the last layer's windows buy nothing"
