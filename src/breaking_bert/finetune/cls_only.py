"""The last encoder layer computed for the first token ([CLS]) only.

A BERT-family sequence classifier reads one vector from the encoder: the first token's final hidden
state (BERT's pooler takes ``hidden[:, 0]``, RoBERTa's and ELECTRA's heads ``features[:, 0, :]``).
The last layer's other L-1 positions are computed and thrown away: their query projection, their
attention rows, the attention output projection and the feed-forward block, about 5/6 of that
layer's work, or ~14% of a 6-layer encoder's. Here the last layer computes keys and values for every
token (the first token still attends to all of them, through the same attention function and the
same masks, cut to the first row) and everything else for the first token only. The logits are the
same function of the weights and inputs (equal within float rounding, tested); what changes is the
dropout draws, since fewer positions draw, so a run is equal to the full computation within seed
noise, not bit for bit. The learned windows' keep-weights depend on positions only, so their
density still counts every row of the last layer's windows (learned/windows.py) and their
gradients are the full layer's too.

transformers has no option to compute an encoder layer for a subset of queries, so the last layer
gets ``cls_only_forward`` as its own ``forward`` (an attribute of that one module, which
``nn.Module.__call__`` calls; until 2026-11-30 the layer's class was swapped for a subclass at run
time): the module, its class, its parameters and its state-dict names stay the model's
(checkpoints and saved models are unchanged), and the attention still goes through the
registered attention interface, found by the config's ``_attn_implementation`` as transformers'
own layers find it. Not applied (the full layer runs) with flex, whose block masks cannot be cut to
one row.
"""

from __future__ import annotations

import types
from dataclasses import replace

from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

# heads that read the first token's final hidden state and nothing else
FIRST_TOKEN_CLASSIFIERS = frozenset({
    "BertForSequenceClassification",
    "RobertaForSequenceClassification",
    "XLMRobertaForSequenceClassification",
    "CamembertForSequenceClassification",
    "ElectraForSequenceClassification",
})
MASK_FORMATS = ("eager", "sdpa")  # masks of shape (B, 1, L, L) that can be cut to the first row (learned: eager)


def cls_only_forward(self, hidden_states, attention_mask=None, *args, sparse_attention=None, **kwargs):
    """A BERT-family layer's output for the first token only, (B, 1, hidden)."""
    attention = self.attention.self
    batch = hidden_states.shape[0]
    first = hidden_states[:, :1]  # (B, 1, hidden): the only query; also the residual
    heads = (batch, -1, attention.num_attention_heads, attention.attention_head_size)
    query = attention.query(first).view(heads).transpose(1, 2)  # (B, nh, 1, hs)
    key = attention.key(hidden_states).view(heads).transpose(1, 2)  # (B, nh, L, hs)
    value = attention.value(hidden_states).view(heads).transpose(1, 2)
    if attention_mask is not None:
        attention_mask = attention_mask[:, :, :1]  # (B, 1, 1, L)
    if sparse_attention is not None:
        sparse_attention = replace(sparse_attention, mask=sparse_attention.mask[:, :, :1])
    for unused in ("encoder_attention_mask", "past_key_values"):  # an encoder's layer gets them as None
        kwargs.pop(unused, None)
    attention_function = ALL_ATTENTION_FUNCTIONS[attention.config._attn_implementation]
    output, _ = attention_function(
        attention, query, key, value, attention_mask, sparse_attention=sparse_attention,
        dropout=attention.dropout.p if attention.training else 0.0, scaling=attention.scaling, **kwargs,
    )
    output = self.attention.output(output.reshape(batch, 1, -1), first)
    return self.feed_forward_chunk(output)


def why_not_cls_only(model, mask_format: str) -> str | None:
    """None where the last layer can run for [CLS] only; else the reason it runs in full."""
    if type(model).__name__ not in FIRST_TOKEN_CLASSIFIERS:
        return f"{type(model).__name__}'s head is not known to read the first token only"
    if mask_format not in MASK_FORMATS:
        return f"{mask_format} masks cannot be cut to the first row"
    if model.config.is_decoder or getattr(model.config, "add_cross_attention", False):
        return "a decoder's layers attend across"
    return None


def compute_last_layer_for_cls_only(model) -> None:
    """Make the encoder's last layer compute its output for the first token only (in place)."""
    layer = model.base_model.encoder.layer[-1]
    layer.forward = types.MethodType(cls_only_forward, layer)
