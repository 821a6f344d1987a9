"""Sparse attention through transformers' attention interface (no copied BertSelfAttention).

We register ``sparse_eager`` and ``sparse_sdpa`` with ``AttentionInterface`` (and the matching
padding-mask formats with ``AttentionMaskInterface``). The model is loaded with
``attn_implementation="sparse_sdpa"``; every forward call passes

    model(..., sparse_attention=SparseAttention(mask=..., layers=frozenset({3, 4, 5})))

and the transformers stack hands that keyword to the attention function of every layer. At a
layer in ``layers`` the function uses the per-example sparse mask (already combined with padding
and converted to the backend's format, once per batch); at every other layer it uses the model's
own padding mask, so those layers are exactly dense.

Backend formats: eager *adds* its mask to the scores, so it gets an additive float mask (0 or the
dtype's minimum); a boolean mask there would be silently wrong. sdpa takes booleans (True = attend).
flex (PyTorch FlexAttention) takes a ``BlockMask`` built from the same booleans: it skips the
kernel blocks that are entirely masked. Two limits of flex in torch 2.13: no attention dropout
(the engine sets the model's attention dropout to 0 for flex runs, so compare them with flex runs
only) and no backward pass on CPU (flex trains on a GPU; on CPU it evaluates). A third: its
compiled CPU kernel gives wrong values on a partial block on some CPUs (AVX2 without AVX-512), so
flex never runs one: its block masks cover the length padded to whole blocks (padded keys are
never attended, padded queries attend only to themselves) and q/k/v are padded to match and the
output cut back (docs/DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask, sdpa_mask
from transformers.models.bert.modeling_bert import eager_attention_forward

BACKENDS = ("eager", "sdpa", "flex")
FLEX_BLOCK_SIZE = 128  # FlexAttention's default block; masks and inputs are padded to whole blocks


@dataclass(frozen=True)
class SparseAttention:
    """A batch's sparse mask in backend format, (B, 1, L, L), and the layers it applies to."""

    mask: torch.Tensor
    layers: frozenset[int]


def _sdpa_forward(module, query, key, value, attention_mask, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def _flex_forward(module, query, key, value, attention_mask, **kwargs):
    """FlexAttention on whole blocks only: q/k/v padded to the block mask's length, output cut back."""
    from transformers.integrations.flex_attention import flex_attention_forward

    length = query.shape[-2]  # (B, heads, L, head_dim)
    if attention_mask is None:  # no padding mask: every pair of real tokens
        attention_mask = to_block_mask(torch.ones((query.shape[0], 1, length, length), dtype=torch.bool, device=query.device))
    padded = attention_mask.seq_lengths[0]
    if padded % attention_mask.BLOCK_SIZE[0] or padded < length:
        raise ValueError(f"flex needs a block mask over whole blocks (built by to_block_mask); got length {padded}")
    query, key, value = (pad_length(x, padded) for x in (query, key, value))
    output, lse = flex_attention_forward(module, query, key, value, attention_mask, **kwargs)
    return output[:, :length], None if lse is None else lse[..., :length]  # output: (B, L, heads, head_dim)


def flex_padding_mask(**kwargs):
    """The model's own mask (padding, at the dense layers) for flex: transformers' boolean mask as a
    block mask over whole blocks."""
    combined = sdpa_mask(**{**kwargs, "allow_is_bidirectional_skip": False, "allow_is_causal_skip": False})
    return to_block_mask(combined.expand(kwargs["batch_size"], 1, -1, -1))


_BASE_FORWARD = {"eager": eager_attention_forward, "sdpa": _sdpa_forward, "flex": _flex_forward}
_MASK_FORMAT = {"eager": eager_mask, "sdpa": sdpa_mask, "flex": flex_padding_mask}


# The SDPA kernel torch picks for each kind of call this process made ("masked train", "dense eval",
# ...), as torch._fused_sdp_choice names it for the call's inputs: metrics.json's sdpa_kernels. On
# a CPU, for one, every training call with attention dropout takes the math kernel, masked or not.
SDPA_KERNELS: dict[str, str] = {}


def _record_sdpa_kernel(call: str, query, key, value, attention_mask, dropout: float) -> None:
    from torch.nn.attention import SDPBackend

    try:
        choice = torch._fused_sdp_choice(query, key, value, attention_mask, dropout, False)
        SDPA_KERNELS[call] = SDPBackend(choice).name
    except (AttributeError, RuntimeError, TypeError, ValueError):  # a private API: absent or changed
        SDPA_KERNELS[call] = "unknown"


def _make_sparse_forward(base_forward):
    def sparse_attention_forward(module, query, key, value, attention_mask, sparse_attention=None, **kwargs):
        # query/key/value: (B, heads, L, head_dim)
        masked = sparse_attention is not None and module.layer_idx in sparse_attention.layers
        if masked:
            attention_mask = sparse_attention.mask
        if base_forward is _sdpa_forward:
            call = f"{'masked' if masked else 'dense'} {'train' if module.training else 'eval'}"
            if call not in SDPA_KERNELS:
                _record_sdpa_kernel(call, query, key, value, attention_mask, kwargs.get("dropout", 0.0))
        return base_forward(module, query, key, value, attention_mask, **kwargs)

    return sparse_attention_forward


def _learned_forward(module, query, key, value, attention_mask, learned_attention=None, scaling=None, dropout=0.0, **kwargs):
    """Learned neighbour degrees (src/breaking_bert/learned/); without a learned batch (e.g. the
    maskability probe) it is the sparse eager backend."""
    if learned_attention is None:
        return _SPARSE_FORWARD["eager"](module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    return learned_attention.degrees.attention(module, query, key, value, attention_mask, learned_attention, dropout, scaling)


LEARNED_IMPLEMENTATION = "learned_neighbour"


_SPARSE_FORWARD = {backend: _make_sparse_forward(_BASE_FORWARD[backend]) for backend in BACKENDS}


def compile_cache_for_this_cpu() -> str:
    """Point torch.compile's cache (TORCHINDUCTOR_CACHE_DIR, unless the user set it) at a folder of
    this CPU's vector ISA: inductor reuses a cached kernel across ISAs, and a FlexAttention kernel
    compiled under AVX-512 and run under AVX2 (``ATEN_CPU_CAPABILITY=avx2``, or another node sharing
    /tmp) failed with "index out of bounds" in the demo's kernel timing. Returns the folder."""
    import os

    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    # inductor writes its default into the variable when it first looks: that is not a user's choice
    if current is None or os.path.abspath(current) == os.path.abspath(default_cache_dir()):
        capability = torch.backends.cpu.get_cpu_capability().lower()
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(default_cache_dir(), f"{torch.__version__}-{capability}")
    return os.environ["TORCHINDUCTOR_CACHE_DIR"]


def implementation_name(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"attention backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    return f"sparse_{backend}"


def register_sparse_attention() -> None:
    """Register the sparse backends and the learned-degree one; idempotent."""
    for backend in BACKENDS:
        name = implementation_name(backend)
        AttentionInterface.register(name, _SPARSE_FORWARD[backend])
        AttentionMaskInterface.register(name, _MASK_FORMAT[backend])
    AttentionInterface.register(LEARNED_IMPLEMENTATION, _learned_forward)
    AttentionMaskInterface.register(LEARNED_IMPLEMENTATION, eager_mask)  # additive padding mask


@dataclass(frozen=True)
class Backend:
    """One job's attention backend, chosen once (``backend_for``): the implementation the model is
    loaded with, the format collation converts masks to, and what the model's config must change,
    so that loading and collation cannot disagree."""

    name: str  # training.backend, or "learned" for the learned windows (their own implementation)
    implementation: str  # the name registered with transformers' AttentionInterface
    mask_format: str  # eager | sdpa | flex: what to_mask returns, and how the load probe checks
    config_changes: tuple[tuple[str, float], ...] = ()

    def to_mask(self, allowed: torch.Tensor, padding: torch.Tensor, dtype: torch.dtype):
        return to_backend_mask(allowed, padding, self.mask_format, dtype)


def backend_for(name: str, learned: bool = False) -> Backend:
    """training.backend's object; learned runs use the learned windows' own implementation (no
    fixed masks reach it; its padding mask is eager's)."""
    if learned:
        return Backend("learned", LEARNED_IMPLEMENTATION, "eager")
    # FlexAttention has no attention dropout: flex runs train without it (compare them with flex runs)
    changes = (("attention_probs_dropout_prob", 0.0),) if name == "flex" else ()
    return Backend(name, implementation_name(name), name, changes)


def to_backend_mask(allowed: torch.Tensor, padding: torch.Tensor, backend: str, dtype: torch.dtype) -> torch.Tensor:
    """(B, L, L) bool allowed + (B, L) padding (1 = real) -> (B, 1, L, L) mask in the backend's format.

    Rows of padding queries attend to every real key, as the dense padding mask does, so no row is
    empty (an all-masked row would give NaN under sdpa).
    """
    real = padding.bool()
    key_is_real = real[:, None, :]  # (B, 1, L)
    combined = torch.where(real[:, :, None], allowed & key_is_real, key_is_real.expand_as(allowed))
    combined = combined[:, None, :, :]  # (B, 1, L, L)
    if backend == "sdpa":
        return combined
    if backend == "eager":
        zero = torch.zeros((), dtype=dtype, device=combined.device)
        return torch.where(combined, zero, torch.finfo(dtype).min)
    if backend == "flex":
        return to_block_mask(combined)
    raise ValueError(f"attention backend {backend!r}; allowed: {', '.join(BACKENDS)}")


def pad_length(x: torch.Tensor, length: int) -> torch.Tensor:
    """(..., L, d) -> (..., length, d) with zero rows appended."""
    return torch.nn.functional.pad(x, (0, 0, 0, length - x.shape[-2]))


def to_block_mask(combined: torch.Tensor, block_size: int = FLEX_BLOCK_SIZE):
    """(B, 1, L, L) booleans -> a FlexAttention BlockMask over L padded to whole blocks (blocks with
    no allowed pair are skipped). Padded keys are never attended; each padded query attends only to
    itself, so no row is empty; ``_flex_forward`` pads q/k/v to the same length and cuts back."""
    from torch.nn.attention.flex_attention import create_block_mask

    batch, _, length, _ = combined.shape
    padded = -(-length // block_size) * block_size
    if padded != length:
        grown = torch.zeros((batch, 1, padded, padded), dtype=torch.bool, device=combined.device)
        grown[:, :, :length, :length] = combined
        tail = torch.arange(length, padded, device=combined.device)
        grown[:, :, tail, tail] = True
        combined = grown

    def allowed_pair(b, h, q, k):
        return combined[b, 0, q, k]

    return create_block_mask(allowed_pair, batch, None, padded, padded, device=combined.device, BLOCK_SIZE=block_size)


class UnsupportedArchitecture(ValueError):
    pass


def check_model_is_maskable(model, backend: str) -> None:
    """Run a tiny forward and check every layer's attention went through our function.

    An architecture that does not dispatch through the attention interface (or has no
    ``layer_idx`` on its attention modules) cannot be masked; say so instead of training dense.
    """
    num_layers = model.config.num_hidden_layers
    seen: set[int] = set()

    class RecordingLayers(frozenset):
        """A layer set that records which layer indices asked whether they are masked."""

        def __contains__(self, layer_idx):
            seen.add(layer_idx)
            return super().__contains__(layer_idx)

    device = next(model.parameters()).device
    ids = torch.full((1, 4), 100, dtype=torch.long, device=device)
    padding = torch.ones_like(ids)
    allowed = torch.ones((1, 4, 4), dtype=torch.bool, device=device)
    mask = to_backend_mask(allowed, padding, backend, next(model.parameters()).dtype)
    with torch.no_grad():
        try:
            probe = SparseAttention(mask, RecordingLayers(range(num_layers)))
            model(input_ids=ids, attention_mask=padding, sparse_attention=probe)
        except TypeError as error:
            raise UnsupportedArchitecture(
                f"{type(model).__name__} does not accept attention-interface keyword arguments ({error}); "
                "use a BERT-family encoder (BERT, MiniLM, RoBERTa, ...)"
            ) from None
    if seen != set(range(num_layers)):
        raise UnsupportedArchitecture(
            f"{type(model).__name__} ({model.config.model_type}) does not route attention through "
            f"transformers' AttentionInterface with layer indices (saw layers {sorted(seen)} of {num_layers}); "
            "it cannot be masked. Use a BERT-family encoder (BERT, MiniLM, RoBERTa, ...)."
        )
