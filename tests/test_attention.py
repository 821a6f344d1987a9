"""The engine applies exactly the intended mask at exactly the intended layers."""

import pytest
import torch
from transformers import BertForSequenceClassification

from breaking_bert.attention import (
    SparseAttention,
    UnsupportedArchitecture,
    check_model_is_maskable,
    implementation_name,
    register_sparse_attention,
    to_backend_mask,
)
from breaking_bert.vocabulary import placement_layers
from conftest import tiny_bert_config

register_sparse_attention()


def _models(backends=("eager", "sdpa"), **config_changes):
    torch.manual_seed(0)
    reference = BertForSequenceClassification(tiny_bert_config(**config_changes)).eval()
    reference.config._attn_implementation = "eager"
    models = {}
    for backend in backends:
        config = tiny_bert_config(**config_changes)
        config._attn_implementation = implementation_name(backend)
        model = BertForSequenceClassification(config).eval()
        model.load_state_dict(reference.state_dict())
        models[backend] = model
    return reference, models


def _batch(seed=0, batch=3, length=12):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 2000, (batch, length), generator=generator)
    padding = torch.ones(batch, length, dtype=torch.long)
    padding[1, 8:] = 0  # a padded example
    padding[2, 5:] = 0
    allowed = torch.rand(batch, length, length, generator=generator) < 0.3
    allowed |= torch.eye(length, dtype=torch.bool)
    return ids, padding, allowed


def test_dense_through_engine_equals_unmodified_model():
    reference, models = _models()
    ids, padding, _ = _batch()
    expected = reference(input_ids=ids, attention_mask=padding).logits
    for backend, model in models.items():
        got = model(input_ids=ids, attention_mask=padding).logits
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
        # all layers masked with an all-True pattern is dense too
        full = torch.ones(ids.shape[0], ids.shape[1], ids.shape[1], dtype=torch.bool)
        sparse = SparseAttention(to_backend_mask(full, padding, backend, torch.float32), frozenset(range(4)))
        torch.testing.assert_close(model(input_ids=ids, attention_mask=padding, sparse_attention=sparse).logits,
                                   expected, atol=1e-6, rtol=0)


def test_eager_and_sdpa_agree_on_logits_and_gradients_under_sparse_masks():
    _, models = _models()
    ids, padding, allowed = _batch(seed=1)
    outputs = {}
    for backend, model in models.items():
        model.zero_grad()
        sparse = SparseAttention(to_backend_mask(allowed, padding, backend, torch.float32), frozenset({0, 2, 3}))
        logits = model(input_ids=ids, attention_mask=padding, sparse_attention=sparse).logits
        logits.sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        outputs[backend] = (logits.detach(), grads)
    torch.testing.assert_close(outputs["eager"][0], outputs["sdpa"][0], atol=1e-5, rtol=0)
    assert outputs["eager"][1].keys() == outputs["sdpa"][1].keys()
    for name, grad in outputs["eager"][1].items():
        torch.testing.assert_close(grad, outputs["sdpa"][1][name], atol=1e-5, rtol=1e-4, msg=name)


def test_sparse_mask_really_changes_the_output():
    _, models = _models(("sdpa",))
    ids, padding, allowed = _batch(seed=2)
    model = models["sdpa"]
    dense = model(input_ids=ids, attention_mask=padding).logits
    sparse = SparseAttention(to_backend_mask(allowed, padding, "sdpa", torch.float32), frozenset(range(4)))
    assert (model(input_ids=ids, attention_mask=padding, sparse_attention=sparse).logits - dense).abs().max() > 1e-4


@pytest.mark.parametrize("backend", ["eager", "sdpa"])
@pytest.mark.parametrize("first_masked", [0, 2, 3])
def test_mask_at_layer_i_changes_only_layers_from_i(backend, first_masked):
    _, models = _models((backend,))
    model = models[backend]
    ids, padding, allowed = _batch(seed=3)
    dense = model(input_ids=ids, attention_mask=padding, output_hidden_states=True).hidden_states
    sparse = SparseAttention(to_backend_mask(allowed, padding, backend, torch.float32),
                             placement_layers(f"from{first_masked}", 4))
    masked = model(input_ids=ids, attention_mask=padding, sparse_attention=sparse, output_hidden_states=True).hidden_states
    real = padding.bool()
    for layer in range(1, 5):  # hidden_states[l] is the output of layer l-1
        difference = (masked[layer] - dense[layer]).abs()[real].max()
        if layer - 1 < first_masked:
            assert difference == 0, f"layer {layer - 1} is before the masked ones"
        else:
            assert difference > 1e-5, f"layer {layer - 1} should be masked"


def test_eager_gets_an_additive_mask_and_sdpa_a_boolean_one():
    _, padding, allowed = _batch()
    eager = to_backend_mask(allowed, padding, "eager", torch.float32)
    sdpa = to_backend_mask(allowed, padding, "sdpa", torch.float32)
    assert eager.dtype == torch.float32 and sdpa.dtype == torch.bool
    assert ((eager == 0) == sdpa).all()
    assert sdpa.shape == (3, 1, 12, 12)
    assert not sdpa[1, 0, :8, 8:].any(), "padding keys are never attended"
    assert sdpa.any(dim=-1).all(), "no empty row (sdpa would give NaN)"


def test_architecture_that_cannot_be_masked_is_refused():
    from transformers import GPT2Config, GPT2ForSequenceClassification

    config = GPT2Config(n_layer=2, n_head=2, n_embd=16, vocab_size=200, pad_token_id=0)
    config._attn_implementation = "sdpa"  # GPT-2 ignores our layer set: it must be refused, not trained dense
    model = GPT2ForSequenceClassification(config).eval()
    with pytest.raises(UnsupportedArchitecture, match="cannot be masked|does not accept"):
        check_model_is_maskable(model, "sdpa")


@pytest.mark.parametrize("architecture", ["bert", "roberta"])
def test_maskable_encoders_are_accepted_and_really_masked(architecture):
    """BERT and RoBERTa pass the check, and the check is right: a sparse mask at every layer moves
    their logits, an all-True one does not."""
    from transformers import RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    if architecture == "bert":
        config = tiny_bert_config()
        config.initializer_range = 0.5  # logits that move visibly when a mask matters
        config._attn_implementation = implementation_name("sdpa")
        model = BertForSequenceClassification(config).eval()
    else:
        config = RobertaConfig(vocab_size=3000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, max_position_embeddings=64, initializer_range=0.5)
        config._attn_implementation = implementation_name("sdpa")
        model = RobertaForSequenceClassification(config).eval()
    check_model_is_maskable(model, "sdpa")
    ids, padding, allowed = _batch()
    layers = frozenset(range(config.num_hidden_layers))

    def logits(mask):
        sparse = SparseAttention(to_backend_mask(mask, padding, "sdpa", torch.float32), layers)
        with torch.no_grad():
            return model(input_ids=ids, attention_mask=padding, sparse_attention=sparse).logits

    with torch.no_grad():
        dense = model(input_ids=ids, attention_mask=padding).logits
    torch.testing.assert_close(logits(torch.ones_like(allowed)), dense, atol=1e-6, rtol=0)
    assert not torch.allclose(logits(allowed), dense, atol=1e-5)


@pytest.mark.parametrize("length", [40, 128])  # 40: a partial block, wrong on AVX2 CPUs unless padded
def test_flex_agrees_with_eager_on_logits_under_sparse_masks(length):
    """FlexAttention's forward with the mask's BlockMask (torch 2.13 has no flex backward on CPU;
    on a GPU the gradients are compared too). Layer 1 stays dense: the model's own flex mask."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    _, models = _models(("eager", "flex"), hidden_size=64)  # heads of 16: flex's GPU kernel's minimum
    ids, padding, allowed = _batch(seed=1, length=length)
    ids, padding, allowed = ids.to(device), padding.to(device), allowed.to(device)
    outputs = {}
    for backend, model in models.items():
        model.to(device)
        sparse = SparseAttention(to_backend_mask(allowed, padding, backend, torch.float32), frozenset({0, 2, 3}))
        with torch.set_grad_enabled(device == "cuda"):
            logits = model(input_ids=ids, attention_mask=padding, sparse_attention=sparse).logits
            if device == "cuda":
                logits.sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        outputs[backend] = (logits.detach(), grads)
    assert torch.isfinite(outputs["flex"][0]).all()
    torch.testing.assert_close(outputs["flex"][0], outputs["eager"][0], atol=1e-5, rtol=0)
    # gradients only where flex has a backward: on a GPU every parameter's, on CPU none to compare
    assert (len(outputs["eager"][1]) > 0) == (device == "cuda")
    assert outputs["eager"][1].keys() == outputs["flex"][1].keys()
    for name, grad in outputs["eager"][1].items():
        torch.testing.assert_close(grad, outputs["flex"][1][name], atol=1e-5, rtol=1e-4, msg=name)


def test_flex_block_masks_cover_whole_blocks_and_keep_padding_out():
    from breaking_bert.attention import to_block_mask

    _, padding, allowed = _batch(length=40)
    block_mask = to_backend_mask(allowed, padding, "flex", torch.float32)
    assert block_mask.seq_lengths == (128, 128)
    b, q, k = torch.meshgrid(torch.arange(3), torch.arange(128), torch.arange(128), indexing="ij")
    dense = block_mask.mask_mod(b, torch.zeros_like(b), q, k)  # (B, 128, 128)
    expected = to_backend_mask(allowed, padding, "sdpa", torch.float32)[:, 0]
    assert torch.equal(dense[:, :40, :40], expected), "the real part is the sdpa mask"
    assert not dense[:, :40, 40:].any(), "no real query attends a padded key"
    assert torch.equal(dense[:, 40:, :], torch.eye(128, dtype=torch.bool)[40:].expand(3, -1, -1)), "padded queries: self only"
    assert to_block_mask(torch.ones(1, 1, 128, 128, dtype=torch.bool)).seq_lengths == (128, 128), "no padding when whole"


def test_flex_block_mask_skips_empty_blocks():
    length = 256
    index = torch.arange(length)
    band = ((index[:, None] - index[None, :]).abs() <= 8)[None]
    padding = torch.ones(1, length, dtype=torch.long)
    block_mask = to_backend_mask(band, padding, "flex", torch.float32)
    # 2 x 2 tiles of 128: the narrow band touches the two diagonal tiles and, across the boundary,
    # the two off-diagonal ones; all four are partial, none is skipped -- but at 64 it would be
    assert block_mask.kv_num_blocks.sum().item() + block_mask.full_kv_num_blocks.sum().item() == 4
    from breaking_bert.attention import to_block_mask

    finer = to_block_mask(band[:, None], block_size=64)
    assert finer.kv_num_blocks.sum().item() + finer.full_kv_num_blocks.sum().item() == 4 + 3 + 3


def test_flex_names_heads_too_small_for_its_gpu_kernel():
    from breaking_bert.finetune import check_flex_head_dim

    with pytest.raises(ValueError, match="at least 16 dimensions; this model has 8 "):
        check_flex_head_dim(tiny_bert_config())  # 32 / 4 heads
    check_flex_head_dim(tiny_bert_config(hidden_size=64))  # 16: accepted


def test_a_backend_is_chosen_once_with_its_implementation_mask_format_and_config_changes():
    from breaking_bert.attention import LEARNED_IMPLEMENTATION, backend_for

    sdpa, flex, learned = backend_for("sdpa"), backend_for("flex"), backend_for("flex", learned=True)
    assert (sdpa.implementation, sdpa.mask_format, sdpa.config_changes) == ("sparse_sdpa", "sdpa", ())
    assert flex.implementation == "sparse_flex" and dict(flex.config_changes) == {"attention_probs_dropout_prob": 0.0}
    assert (learned.implementation, learned.mask_format) == (LEARNED_IMPLEMENTATION, "eager"), "its own, whatever training.backend"
    _, padding, allowed = _batch(length=12)
    assert torch.equal(sdpa.to_mask(allowed, padding, torch.float32), to_backend_mask(allowed, padding, "sdpa", torch.float32))
    with pytest.raises(ValueError, match="allowed: eager, sdpa, flex"):
        backend_for("xformers")



def test_compiled_kernels_are_cached_per_cpu_vector_isa(monkeypatch):
    """Inductor reused an AVX-512 kernel under ATEN_CPU_CAPABILITY=avx2 (the demo's kernel timing
    failed): the compile cache is a folder per ISA and torch version, unless the user chose one."""
    import os

    from breaking_bert.attention import compile_cache_for_this_cpu

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    folder = compile_cache_for_this_cpu()
    assert folder == os.environ["TORCHINDUCTOR_CACHE_DIR"]
    assert folder.endswith(f"{torch.__version__}-{torch.backends.cpu.get_cpu_capability().lower()}")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/somewhere/mine")
    assert compile_cache_for_this_cpu() == "/somewhere/mine"
    from torch._inductor.runtime.cache_dir_utils import cache_dir, default_cache_dir

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    monkeypatch.setattr("torch._inductor.runtime.cache_dir_utils.os.makedirs", lambda *a, **k: None)
    assert cache_dir() == os.path.abspath(default_cache_dir()), "inductor writes its default into the variable"
    assert compile_cache_for_this_cpu() == folder, "which is not the user's choice"
