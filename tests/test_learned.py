"""Learned neighbour degrees (experiment 3): gradients, penalty, hardening, soft/hard agreement."""

import numpy as np
import pytest
import torch

from breaking_bert.finetune import FinetuneJob, TrainingConfig, run_finetune
from breaking_bert.learned import (
    DensityObjective,
    LearnedBatch,
    LearnedConfig,
    LearnedNeighbourDegrees,
    expected_density,
    per_example_sparsity,
    position_classes,
)


def _model(tiny_model_dir):
    from breaking_bert.finetune import load_classifier

    torch.manual_seed(0)
    return load_classifier({"name_or_path": str(tiny_model_dir)}, 2, "sdpa", torch.device("cpu"), learned=True)


def _batch(lengths, length=None):
    length = length or max(lengths)
    padding = torch.zeros((len(lengths), length), dtype=torch.long)
    for row, n in enumerate(lengths):
        padding[row, :n] = 1
    ids = torch.where(padding.bool(), torch.randint(1000, 2000, padding.shape), torch.zeros_like(padding))
    return ids, padding


def test_gradients_reach_every_radius(tiny_model_dir):
    model = _model(tiny_model_dir)
    config = LearnedConfig(initial_radius=3.0, ramp=4.0)
    degrees = LearnedNeighbourDegrees(model.config.num_hidden_layers, model.config.num_attention_heads, config)
    ids, padding = _batch([20, 14])
    batch = LearnedBatch.build(degrees, padding)
    logits = model(input_ids=ids, attention_mask=padding, learned_attention=batch).logits
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])) + expected_density(batch)
    loss.backward()
    assert degrees.radius.grad is not None
    assert (degrees.radius.grad.abs() > 0).all(), "every layer and head's radius gets a gradient"
    assert len(batch.densities) == model.config.num_hidden_layers


def test_hardening_reports_the_sparsity_of_its_integer_windows(tiny_model_dir):
    model = _model(tiny_model_dir)
    layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
    config = LearnedConfig(variant="irregular", classes=2, ramp=2.0)
    degrees = LearnedNeighbourDegrees(layers, heads, config)
    with torch.no_grad():
        degrees.radius.copy_(torch.rand(layers, heads, 2, generator=torch.Generator().manual_seed(0)) * 6)
        degrees.radius[0, 0] = torch.tensor([0.2, 3.6])
    assert degrees.windows()[0, 0].tolist() == [1, 4]  # floor(z + R/2)
    degrees.hard = True
    lengths = [9, 6]
    ids, padding = _batch(lengths, length=10)
    batch = LearnedBatch.build(degrees, padding)
    with torch.no_grad():
        model(input_ids=ids, attention_mask=padding, learned_attention=batch)
    windows, classes = degrees.windows(), position_classes(padding, 2)
    expected = []
    for example, n in enumerate(lengths):
        kept = []
        for layer in range(layers):
            for head in range(heads):
                allowed = np.array([[abs(i - j) <= windows[layer, head, classes[example, i]] or i == 0 or j == 0
                                     for j in range(n)] for i in range(n)])
                kept.append(allowed.sum() / n**2)
        expected.append(1 - np.mean(kept))
    assert per_example_sparsity(batch).numpy() == pytest.approx(np.array(expected), abs=1e-6)


def test_soft_and_hard_masks_agree_where_the_ramp_is_saturated():
    config = LearnedConfig(ramp=4.0)
    degrees = LearnedNeighbourDegrees(1, 4, config)
    with torch.no_grad():
        degrees.radius.copy_(torch.tensor([0.0, 1.3, 2.5, 6.0]).view(1, 4, 1))
    _, padding = _batch([16])
    batch = LearnedBatch.build(degrees, padding)
    soft = degrees.weights(0, batch)
    degrees.hard = True
    hard = degrees.weights(0, batch)
    saturated = (soft == 0) | (soft == 1)
    assert saturated.any() and (~saturated).any()
    assert torch.equal(soft[saturated], hard[saturated])
    assert set(hard.unique().tolist()) <= {0.0, 1.0}
    # the hard window keeps exactly the links whose soft weight is at least one half
    assert torch.equal(hard.bool(), soft >= 0.5)


def test_lagrange_multiplier_follows_the_density_around_its_target():
    objective = DensityObjective(LearnedConfig(objective="target", target_sparsity=0.8, multiplier_learning_rate=1.0))
    density = torch.tensor(0.5, requires_grad=True)  # 0.5 > the 0.2 the target allows
    objective(density).backward()
    assert objective.multiplier == pytest.approx(0.3)
    assert density.grad.item() == pytest.approx(0.3), "the regulariser pushes the density down"
    objective(torch.tensor(0.0))
    assert objective.multiplier == pytest.approx(0.1)
    density = torch.tensor(0.0, requires_grad=True)
    objective(density).backward()
    assert objective.multiplier == pytest.approx(-0.1)
    assert density.grad.item() < 0, "below the target, the regulariser lets the windows widen"


def _learned_job(model_dir, prepared, directory, penalty):
    return FinetuneJob(
        model_cfg={"name_or_path": str(model_dir)},
        train_tokens=prepared["train"][0],
        eval_tokens=prepared["eval"][0],
        num_labels=2,
        placement="all",
        training=TrainingConfig.from_dict({"epochs": 3, "batch_size": 8, "learning_rate": 1e-3, "device": "cpu"}, seed=0),
        checkpoint_dir=str(directory),
        lock_dir=str(directory / "locks"),
        learned=LearnedConfig(objective="penalty", penalty=penalty, initial_radius=6.0, radius_learning_rate=0.5),
    )


def test_a_larger_penalty_gives_higher_sparsity(tiny_model_dir, prepared, tmp_path):
    free = run_finetune(_learned_job(tiny_model_dir, prepared, tmp_path / "free", penalty=0.0))
    penalised = run_finetune(_learned_job(tiny_model_dir, prepared, tmp_path / "penalised", penalty=5.0))
    assert penalised["eval_sparsity_mean"] > free["eval_sparsity_mean"] + 0.1
    assert np.mean(penalised["learned_windows"]) < np.mean(free["learned_windows"])
    assert len(penalised["learned_windows"]) == 4 and len(penalised["learned_windows"][0]) == 4
