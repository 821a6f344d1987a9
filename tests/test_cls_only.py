"""The last layer computed for [CLS] only (finetune/cls_only.py) is the same model: the same logits
and the same gradients as the full layer, under padding and sparse masks at every layer, for each
backend it applies to, and the same parameters by name; where it cannot apply, the reason."""

import copy

import pytest
import torch
from transformers import BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

from breaking_bert.attention import (LEARNED_IMPLEMENTATION, SparseAttention, implementation_name, register_sparse_attention,
                                    to_backend_mask)
from breaking_bert.finetune.cls_only import compute_last_layer_for_cls_only, why_not_cls_only
from breaking_bert.learned import LearnedBatch, LearnedConfig, LearnedNeighbourDegrees, expected_density
from conftest import tiny_bert_config

register_sparse_attention()


def _batch(batch=3, length=12):
    generator = torch.Generator().manual_seed(5)
    ids = torch.randint(1000, 2000, (batch, length), generator=generator)
    padding = torch.ones(batch, length, dtype=torch.long)
    padding[1, 7:] = 0
    padding[2, 4:] = 0
    allowed = (torch.rand(batch, length, length, generator=generator) < 0.3) | torch.eye(length, dtype=torch.bool)
    return ids, padding, allowed


def _full_and_cls_only(model_class, config):
    torch.manual_seed(0)
    full = model_class(config).eval()
    cls_only = copy.deepcopy(full)
    compute_last_layer_for_cls_only(cls_only)
    return full, cls_only


def _logits_and_gradients(model, ids, padding, sparse):
    model.zero_grad()
    logits = model(input_ids=ids, attention_mask=padding, sparse_attention=sparse).logits
    (logits * torch.arange(1, logits.shape[-1] + 1)).sum().backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _roberta_config(backend):
    config = RobertaConfig(vocab_size=2100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=64)
    config._attn_implementation = implementation_name(backend)
    return config


def _bert_config(backend):
    config = tiny_bert_config()
    config._attn_implementation = implementation_name(backend)
    return config


@pytest.mark.parametrize("model_class, make_config", [(BertForSequenceClassification, _bert_config),
                                                       (RobertaForSequenceClassification, _roberta_config)])
@pytest.mark.parametrize("backend", ["eager", "sdpa"])
@pytest.mark.parametrize("masked", ["none", "all", "last"])
def test_cls_only_gives_the_full_layers_logits_and_gradients(model_class, make_config, backend, masked):
    config = make_config(backend)
    full, cls_only = _full_and_cls_only(model_class, config)
    assert why_not_cls_only(full, backend) is None
    ids, padding, allowed = _batch()
    layers = {"none": frozenset(), "all": frozenset(range(config.num_hidden_layers)),
              "last": frozenset({config.num_hidden_layers - 1})}[masked]
    sparse = SparseAttention(to_backend_mask(allowed, padding, backend, torch.float32), layers) if layers else None
    logits, gradients = _logits_and_gradients(full, ids, padding, sparse)
    cls_logits, cls_gradients = _logits_and_gradients(cls_only, ids, padding, sparse)
    torch.testing.assert_close(cls_logits, logits, atol=1e-5, rtol=0)
    assert cls_gradients.keys() == gradients.keys(), "the same parameters take part"
    for name, gradient in gradients.items():
        torch.testing.assert_close(cls_gradients[name], gradient, atol=1e-5, rtol=1e-4, msg=name)
    assert cls_only.state_dict().keys() == full.state_dict().keys(), "checkpoints and saved models keep their names"
    if masked == "last":  # the mask at the last layer reaches [CLS]'s row: it changes the logits
        assert (logits - full(input_ids=ids, attention_mask=padding).logits).abs().max() > 1e-5


def test_cls_only_computes_one_position_in_the_last_layer():
    full, cls_only = _full_and_cls_only(BertForSequenceClassification, _bert_config("sdpa"))
    ids, padding, _ = _batch()
    hidden = cls_only(input_ids=ids, attention_mask=padding, output_hidden_states=True).hidden_states
    assert hidden[-1].shape[1] == 1 and hidden[-2].shape[1] == ids.shape[1]
    compute_last_layer_for_cls_only(cls_only)  # twice is once
    assert type(cls_only.bert.encoder.layer[-1]).__mro__.count(type(full.bert.encoder.layer[-1])) == 1


@pytest.mark.parametrize("hard", [False, True])
def test_learned_windows_give_the_same_logits_gradients_and_density_with_cls_only(hard):
    """The learned windows' keep-weights depend on positions only: with the last layer for [CLS]
    only, the logits, every gradient (the radii's included, through the ramp and the density) and
    the density (a mean over every row of every layer) are the full layer's."""
    config = tiny_bert_config()
    config._attn_implementation = LEARNED_IMPLEMENTATION
    full, cls_only = _full_and_cls_only(BertForSequenceClassification, config)
    assert why_not_cls_only(full, "eager") is None  # learned runs take eager's padding mask
    ids, padding, _ = _batch()
    results = []
    for model in (full, cls_only):
        degrees = LearnedNeighbourDegrees(4, 4, LearnedConfig(initial_radius=2.0))
        degrees.hard = hard
        model.zero_grad()
        batch = LearnedBatch.build(degrees, padding)
        logits = model(input_ids=ids, attention_mask=padding, learned_attention=batch).logits
        density = expected_density(batch)
        ((logits * torch.arange(1, 3)).sum() + 10 * density).backward()
        gradients = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        radius = degrees.radius.grad if degrees.radius.grad is not None else torch.zeros_like(degrees.radius)
        results.append((logits.detach(), density.detach(), gradients, radius))
    (logits, density, gradients, radius), (cls_logits, cls_density, cls_gradients, cls_radius) = results
    torch.testing.assert_close(cls_logits, logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(cls_density, density, atol=0, rtol=0)
    torch.testing.assert_close(cls_radius, radius, atol=1e-5, rtol=1e-4)
    if not hard:  # hardened windows (evaluation) have no ramp, so no gradient
        assert (radius[-1].abs() > 0).any(), "the last layer's radii get gradient"
    assert cls_gradients.keys() == gradients.keys()
    for name, gradient in gradients.items():
        torch.testing.assert_close(cls_gradients[name], gradient, atol=1e-5, rtol=1e-4, msg=name)


def test_where_cls_only_does_not_apply_it_says_why():
    model = BertForSequenceClassification(_bert_config("sdpa"))
    assert "flex" in why_not_cls_only(model, "flex")
    from transformers import BertForTokenClassification

    assert "first token" in why_not_cls_only(BertForTokenClassification(_bert_config("sdpa")), "sdpa")
