"""Learned neighbour degrees (experiment 3): a differentiable window radius per layer and head.

As in Adaptive Attention Span (Sukhbaatar et al. 2019), head h of layer l keeps key j for query i
with the soft weight

    m(i, j) = clamp((R + z - |i - j|) / R, 0, 1)

where z >= -R/2 is a learned radius (in tokens; at -R/2 a head keeps only its diagonal) and R the
width of the soft edge (the ramp). The
attention probabilities are multiplied by m and renormalised, so gradients reach z through the
ramp. [CLS] follows the project's default ``cls_global`` policy (it attends to and is attended by
every token, m = 1), and the diagonal is always kept, as in every fixed pattern.

The *irregular* variant (after irregular LDPC codes, whose nodes have different degrees) learns one
radius per layer, head and *position class* of the query: the input is cut into ``classes`` equal
parts by relative position (first, middle, last third by default), so a head can, e.g., look
further at the start of a sentence than at its end. The regular variant is one class.

Objective (``objective``):
- ``target`` (default): task loss + lambda x (expected density - (1 - target_sparsity)), an
  equality constraint with a Lagrange multiplier lambda updated by gradient ascent: it rises
  while the density is above the target (shrinking the windows) and falls, below zero if need
  be, while it is below (widening them). Sweeping the target traces the accuracy/sparsity frontier with
  each point where it was asked for. The default because, under AdamW, the radii's steps depend
  on the sign of their gradient far more than on its size, so a fixed penalty tends to be either
  too weak to matter or strong enough to shrink every window to its minimum.
- ``penalty``: task loss + penalty x expected density, where the expected density is the mean
  soft weight over real query/key pairs, layers and heads (1 - the soft sparsity).

For evaluation the masks are hardened to integer windows: head h keeps |i - j| <= w with
w = floor(z + R/2), i.e. exactly the links whose soft weight is >= 1/2. Where the ramp is
saturated (m = 0 or 1) soft and hard masks agree. The hardened sparsity is measured per example
over its real tokens, averaged over layers and heads, like a fixed pattern's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

VARIANTS = ("regular", "irregular")
OBJECTIVES = ("penalty", "target")


@dataclass
class LearnedConfig:
    variant: str = "regular"
    objective: str = "target"
    penalty: float = 0.0  # objective 'penalty': weight of the expected density
    target_sparsity: float = 0.78  # objective 'target'
    multiplier_learning_rate: float = 0.05  # objective 'target': step of the Lagrange multiplier
    ramp: float = 2.0  # R, the soft edge's width in tokens
    initial_radius: float = 8.0
    radius_learning_rate: float = 0.2  # radii move in token units; their own AdamW group
    classes: int = 3  # irregular: position classes (equal parts of the input)

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"learned variant {self.variant!r}; allowed: {', '.join(VARIANTS)}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"learned objective {self.objective!r}; allowed: {', '.join(OBJECTIVES)}")
        if self.ramp <= 0:
            raise ValueError("learned ramp must be > 0 tokens")

    @property
    def num_classes(self) -> int:
        return self.classes if self.variant == "irregular" else 1


def position_classes(padding: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, L) class of each query position: its relative position i/n cut into num_classes parts."""
    lengths = padding.sum(-1, keepdim=True).clamp(min=1)
    positions = torch.arange(padding.shape[-1], device=padding.device)[None, :]
    return (positions * num_classes // lengths).clamp(max=num_classes - 1)


@dataclass
class LearnedBatch:
    """What every layer's attention needs for one batch, built once per batch."""

    degrees: "LearnedNeighbourDegrees"
    distance: torch.Tensor  # (L, L) |i - j|
    classes: torch.Tensor  # (B, L) query position class
    real_pairs: torch.Tensor  # (B, 1, L, L) bool: both tokens real
    always: torch.Tensor  # (B, 1, L, L) bool: kept by policy ([CLS] row/column, diagonal)
    densities: list = field(default_factory=list)  # per layer: (B,) mean kept weight over real pairs and heads

    @classmethod
    def build(cls, degrees: "LearnedNeighbourDegrees", padding: torch.Tensor) -> "LearnedBatch":
        length = padding.shape[-1]
        index = torch.arange(length, device=padding.device)
        real = padding.bool()
        real_pairs = (real[:, :, None] & real[:, None, :])[:, None]
        always = torch.eye(length, dtype=torch.bool, device=padding.device)
        always[0, :] = True  # [CLS] attends to every token
        always[:, 0] = True  # and every token attends to [CLS]
        return cls(
            degrees=degrees,
            distance=(index[:, None] - index[None, :]).abs().float(),
            classes=position_classes(padding, degrees.config.num_classes),
            real_pairs=real_pairs,
            always=always[None, None].expand_as(real_pairs),
        )


class LearnedNeighbourDegrees(nn.Module):
    """The radii z[layer, head, class] and the masks they imply."""

    def __init__(self, num_layers: int, num_heads: int, config: LearnedConfig):
        super().__init__()
        self.config = config
        self.radius = nn.Parameter(torch.full((num_layers, num_heads, config.num_classes), float(config.initial_radius)))
        self.hard = False  # evaluation: integer windows

    def windows(self) -> torch.Tensor:
        """Hardened integer windows w = floor(z + R/2), (layers, heads, classes)."""
        return torch.floor(self.radius.detach().clamp(min=-self.config.ramp / 2) + self.config.ramp / 2).long()

    def weights(self, layer: int, batch: LearnedBatch) -> torch.Tensor:
        """(B, H, L, L) keep-weights of one layer: soft in [0, 1] while training, 0/1 when hard."""
        radius = self.radius[layer].clamp(min=-self.config.ramp / 2)  # (H, C)
        per_query = radius[:, batch.classes].permute(1, 0, 2)  # (B, H, L)
        distance = batch.distance[None, None]
        if self.hard:
            window = torch.floor(per_query.detach() + self.config.ramp / 2)
            kept = (distance <= window[..., None]).to(radius.dtype)
        else:
            kept = ((self.config.ramp + per_query[..., None] - distance) / self.config.ramp).clamp(0, 1)
        return torch.where(batch.always, torch.ones_like(kept), kept)

    def attention(self, module, query, key, value, additive_padding, batch: LearnedBatch, dropout: float, scaling: float):
        """Eager attention with the keep-weights applied to the probabilities (then renormalised)."""
        scores = torch.matmul(query, key.transpose(2, 3)) * scaling
        if additive_padding is not None:
            scores = scores + additive_padding[:, :, :, : key.shape[-2]]
        probabilities = torch.softmax(scores, dim=-1, dtype=torch.float32)
        kept = self.weights(module.layer_idx, batch)
        probabilities = probabilities * kept
        probabilities = probabilities / probabilities.sum(-1, keepdim=True).clamp(min=1e-9)
        real = batch.real_pairs.to(kept.dtype)
        n_squared = real.sum((-1, -2)).clamp(min=1)  # (B, 1)
        batch.densities.append(((kept * real).sum((-1, -2)) / n_squared).mean(-1))  # (B,)
        probabilities = nn.functional.dropout(probabilities.to(query.dtype), p=dropout, training=module.training)
        output = torch.matmul(probabilities, value).transpose(1, 2).contiguous()
        return output, probabilities


def expected_density(batch: LearnedBatch) -> torch.Tensor:
    """Mean keep-weight over examples, layers, heads and real pairs: 1 - (soft) sparsity."""
    return torch.stack(batch.densities).mean()


def per_example_sparsity(batch: LearnedBatch) -> torch.Tensor:
    """(B,) 1 - kept pairs / n^2, averaged over layers and heads (exact when the masks are hard)."""
    return 1 - torch.stack(batch.densities).mean(0)


class DensityObjective:
    """The regulariser added to the task loss; a Lagrange multiplier for objective 'target'
    (an equality constraint: the multiplier may go negative)."""

    def __init__(self, config: LearnedConfig, multiplier: float = 0.0):
        self.config = config
        self.multiplier = multiplier

    def __call__(self, density: torch.Tensor) -> torch.Tensor:
        if self.config.objective == "penalty":
            return self.config.penalty * density
        excess = density - (1 - self.config.target_sparsity)
        self.multiplier += self.config.multiplier_learning_rate * float(excess.detach())
        return self.multiplier * excess


def learned_config_for_setting(section: dict, variant: str, setting: str) -> LearnedConfig:
    """The config of one sweep point: section = config['learned_sparsity'], setting = 'penalty0.3'
    or 'target0.8' (the run directory's name)."""
    objective = section.get("objective", "target")
    if not setting.startswith(objective):
        raise ValueError(f"setting {setting!r} does not match learned_sparsity.objective={objective!r}")
    value = float(setting[len(objective) :])
    known = {k: section[k] for k in ("ramp", "initial_radius", "radius_learning_rate", "multiplier_learning_rate", "classes") if k in section}
    sweep = {"penalty": value} if objective == "penalty" else {"target_sparsity": value}
    return LearnedConfig(variant=variant, objective=objective, **known, **sweep)
