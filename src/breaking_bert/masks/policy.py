"""The special-token policy (masks.special_tokens), defined once for the fixed masks and the
learned windows: which pairs of [CLS] and [SEP] it keeps, and which tokens a pattern may link
(docs/MASKS.md). Plain array operations, so that numpy arrays (a mask stage example) and torch
tensors (a learned run's batch) take the same code."""

from __future__ import annotations

SPECIAL_TOKEN_POLICIES = ("cls_global", "global", "like_words")


def special_token_links(special, policy: str):
    """The special-token policy as links, one definition for the fixed masks (numpy, one example)
    and the learned windows (torch, a batch): ``special`` (..., n) bool marks the special tokens
    ([CLS] when position 0 is one, the [SEP]s). Returns ``hubs`` (..., n, n), the pairs the policy
    keeps besides the diagonal (a global token's row and column), and ``linkable`` (..., n), the
    tokens a pattern or a learned window may link; any other pair of a token outside ``linkable``
    is the policy's alone (docs/MASKS.md)."""
    if policy not in SPECIAL_TOKEN_POLICIES:
        raise ValueError(f"masks.special_tokens={policy!r}; allowed: {', '.join(SPECIAL_TOKEN_POLICIES)}")
    none = special & False
    cls = none | False
    cls[..., 0] = special[..., 0]
    hub = {"cls_global": cls, "global": special, "like_words": none}[policy]
    linkable = ~special | (cls if policy == "like_words" else none)
    return hub[..., :, None] | hub[..., None, :], linkable
