"""Learned neighbour degrees (experiment 3): a differentiable window radius per layer and head.

As in Adaptive Attention Span (Sukhbaatar et al. 2019), head h of layer l keeps key j for query i
with the soft weight

    m(i, j) = clamp((R + z - |i - j|) / R, 0, 1)

where z is a learned radius (in tokens) and R the width of the soft edge (the ramp). The
attention probabilities are multiplied by the keep-weights and renormalised.

What trains is what is evaluated (a straight-through estimate): the forward pass keeps exactly
the hardened links ``|i - j| <= floor(z + R/2)`` (those whose soft weight is >= 1/2), and the
gradient is the soft ramp's. So the density the constraint holds at its target is the hardened
masks' density, the one evaluation reports. After every step the radii are projected into
``[1 - R + margin, longest - 1 - margin]``: there the ramp always covers at least one real
distance, so no radius ends without gradient (a radius below -R/2 used to get none and never
recover), and at the lower end a head keeps only its diagonal.

[CLS] follows the project's default ``cls_global`` policy (it attends to and is attended by every
token), the diagonal is always kept, and a [SEP] token is linked to itself and [CLS] only, never
by a window: the fixed patterns' rule (docs/MASKS.md).

The *irregular* variant (after irregular LDPC codes, whose nodes have different degrees) learns one
radius per layer, head and *position class* of the query: the input is cut into ``classes`` equal
parts by relative position (first, middle, last third by default), so a head can, e.g., look
further at the start of a sentence than at its end. The regular variant is one class.

Objective (``objective``):
- ``target`` (default): the hardened masks are held at the target sparsity by construction. After
  every optimizer step all radii are shifted by one common offset, chosen so that the hardened
  density on a fixed sample of training examples is the one closest to ``1 - target`` that
  integer windows allow (``DensityBudget``, exact, computed from per-length pair counts), the radii
  nearest to their next window then moving into it one at a time while that gets closer. The
  gradient decides how the budget is shared among layers, heads and position classes; the
  placement keeps the total. (Until 2026-11-29 a Lagrange multiplier on the soft density did this; it
  missed targets by up to 0.09 and oscillated on short inputs.)
- ``penalty``: task loss + penalty x expected density, where the expected density is the mean
  keep-weight over real query/key pairs, layers and heads (1 - the hardened sparsity).

Training and evaluation use the hardened integer windows: head h keeps |i - j| <= w with
w = floor(z + R/2), i.e. exactly the links whose soft weight is >= 1/2. The hardened sparsity is
measured per example over its real tokens, averaged over layers and heads, like a fixed pattern's.

The radii have their own AdamW group with a constant learning rate (the model's decays to zero;
radii that could no longer move could not follow the task at the end) and are not clipped with the
model's gradients (a density penalty's gradient on the radii would otherwise shrink the task's).
"""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "objectives": ("DensityBudget", "DensityObjective",),
    "windows": (
        "RADIUS_MARGIN", "LearnedBatch", "LearnedConfig", "LearnedNeighbourDegrees", "expected_density",
        "learned_config_for_setting", "per_example_effective_sparsity", "per_example_sparsity", "position_classes",
    ),
})
