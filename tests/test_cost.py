"""Cost and retained attention: counts against hand-computed cases, retained mass of known masks."""

import numpy as np
import pytest
import torch

from breaking_bert.cost import (
    attention_flops,
    block_counts,
    dense_attention_probabilities,
    mask_cost,
    retained_mass,
    retained_mass_per_row,
)
from breaking_bert.cost import (
    band_mask,
    banded_attention,
    neighbour_window,
    positional_mask,
    synthetic_degrees,
    synthetic_mask,
    time_block_sparse_vs_dense,
)


def test_flops_and_memory_of_a_tridiagonal_mask():
    n, d = 5, 8
    allowed = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1  # 5 + 2*4 = 13 pairs
    cost = mask_cost(allowed, d, block_sizes=(2,))
    assert cost["pairs"] == 13
    assert cost["flops_dense"] == 4 * 25 * 8 == attention_flops(25, 8)
    assert cost["flops_sparse"] == 4 * 13 * 8
    assert cost["score_memory_dense"] == 25 and cost["score_memory_sparse"] == 13
    # 5 tokens in 2x2 blocks -> 3x3 tiles; the tridiagonal band touches the diagonal tiles and
    # their neighbours (7 tiles), but not the (0, 2) and (2, 0) corners
    assert cost["blocks_non_empty_fraction_b2"] == pytest.approx(7 / 9)


def test_block_counts_by_hand():
    allowed = np.zeros((8, 8), dtype=bool)
    allowed[:4, :4] = True  # one whole 4x4 tile
    allowed[5, 1] = True  # a single pair in the lower-left tile
    assert block_counts(allowed, 4) == {"blocks": 4, "non_empty": 2, "full": 1}
    assert block_counts(np.ones((6, 6), dtype=bool), 4) == {"blocks": 4, "non_empty": 4, "full": 4}
    eye = np.eye(6, dtype=bool)
    assert block_counts(eye, 2) == {"blocks": 9, "non_empty": 3, "full": 0}


def test_retained_mass_of_dense_is_one_and_of_the_diagonal_is_the_diagonal_weights(tiny_model_dir):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_model_dir, attn_implementation="eager").eval()
    ids = torch.tensor([101, 2023, 3185, 2001, 2200, 2204, 1012, 102])
    probabilities = dense_attention_probabilities(model, ids, torch.zeros_like(ids))
    layers, heads, n, _ = probabilities.shape
    assert (layers, n) == (model.config.num_hidden_layers, 8)
    dense = retained_mass(probabilities, torch.ones(n, n, dtype=torch.bool))
    assert torch.allclose(dense, torch.ones(layers, heads), atol=1e-6)
    diagonal = retained_mass_per_row(probabilities, torch.eye(n, dtype=torch.bool))
    assert torch.allclose(diagonal, torch.diagonal(probabilities, dim1=-2, dim2=-1), atol=1e-7)
    assert (diagonal < 1).all()


@pytest.mark.parametrize("kind", ["neighbour", "random", "bigbird"])
def test_synthetic_masks_reach_the_target_sparsity(kind):
    mask = synthetic_mask(kind, 512, 0.78)
    assert 1 - mask.float().mean().item() == pytest.approx(0.78, abs=0.02)
    assert mask.diagonal().all()


@pytest.mark.parametrize("kind", ["neighbour", "random"])
def test_synthetic_degrees_are_the_closest_to_the_target(kind):
    """The timing masks' degrees come from the masks stage's solver: no neighbouring degree is closer."""
    (name, degree), = synthetic_degrees(kind, 96, 0.7).items()
    gaps = {d: abs(1 - positional_mask(kind, 96, {name: d}).float().mean().item() - 0.7) for d in (degree - 1, degree, degree + 1)}
    assert gaps[degree] == min(gaps.values()), gaps
    with pytest.raises(ValueError, match="only kinds with one degree"):
        synthetic_degrees("dilated", 96, 0.7)


@pytest.mark.parametrize("length, window, block", [(50, 3, 16), (50, 20, 16), (64, 0, 16), (37, 40, 8)])
def test_banded_attention_equals_sdpa_under_the_neighbour_mask(length, window, block):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, length, 8, requires_grad=True) for _ in range(3))
    mask = band_mask(length, window)
    assert neighbour_window(mask) == min(window, length - 1)
    assert mask.sum() == sum(min(length, i + window + 1) - max(0, i - window) for i in range(length))
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    expected_grads = torch.autograd.grad(expected.square().sum(), (q, k, v))
    out = banded_attention(q, k, v, window, block=block)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_band_kernel_refuses_masks_that_are_not_a_band():
    with pytest.raises(ValueError, match="neighbour masks"):
        time_block_sparse_vs_dense(synthetic_mask("random", 64, 0.5), heads=1, head_dim=8, block=16, repeats=1,
                                   kernel="band")


def test_cost_summary_weighs_examples_by_their_pairs_and_retained_rows_name_their_cell():
    from breaking_bert.cost import cost_summary, retained_mass_frame
    from breaking_bert.masks import MaskSet

    masks = MaskSet.from_masks([np.eye(4, dtype=bool), np.ones((2, 2), dtype=bool)])
    summary = cost_summary(masks, head_dim=8, block_sizes=[2])
    assert summary["examples"] == 2
    assert summary["flops_fraction"] == pytest.approx((4 + 4) / (16 + 4))  # pairs kept over pairs, all examples
    assert summary["blocks_non_empty_fraction_b2"] == pytest.approx((2 / 4 + 1) / 2)  # eye(4): the 2 diagonal blocks
    frame = retained_mass_frame(np.array([[0.5, 0.25], [1.0, 0.75]]), task="t", pattern="p")
    assert frame.to_dict("records")[1] == {"task": "t", "pattern": "p", "layer": 0, "head": 1, "retained_mass": 0.25}
