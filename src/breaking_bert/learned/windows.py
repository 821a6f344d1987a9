"""The learned windows: their config, the radii per layer, head and position class, the batch of
keep-weights they give, and a sweep point's config from its setting name."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..masks.policy import special_token_links
from ..vocabulary import OBJECTIVES, VARIANTS, learned_variant, parse_setting

RADIUS_MARGIN = 0.01  # keeps the projected radii strictly inside the range where they get gradient


@dataclass
class LearnedConfig:
    variant: str = "regular"
    objective: str = "target"
    penalty: float = 0.0  # objective 'penalty': weight of the expected density
    target_sparsity: float = 0.78  # objective 'target'
    budget_sample: int = 512  # objective 'target': training examples the density budget is held on
    ramp: float = 2.0  # R, the soft edge's width in tokens
    initial_radius: float = 8.0
    radius_learning_rate: float = 0.2  # radii move in token units; their own AdamW group
    classes: int = 3  # irregular: position classes (equal parts of the input)
    frozen_windows: list | None = None  # a control: these windows [layer][head][class], fixed from step 0
    special_tokens: str = "cls_global"  # masks.special_tokens: the policy every fixed pattern follows too

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"learned variant {self.variant!r}; allowed: {', '.join(VARIANTS)}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"learned objective {self.objective!r}; allowed: {', '.join(OBJECTIVES)}")
        if self.ramp <= 0:
            raise ValueError("learned ramp must be > 0 tokens")
        if not 0 < self.target_sparsity < 1:
            raise ValueError(f"learned target_sparsity={self.target_sparsity}: must be in (0, 1)")

    @property
    def num_classes(self) -> int:
        return self.classes if self.variant == "irregular" else 1

    @property
    def min_radius(self) -> float:
        """The smallest radius whose ramp still covers distance 1 (so it gets gradient)."""
        return 1.0 - self.ramp + RADIUS_MARGIN


def position_classes(padding: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, L) class of each query position: its relative position i/n cut into num_classes parts."""
    lengths = padding.sum(-1, keepdim=True).clamp(min=1)
    positions = torch.arange(padding.shape[-1], device=padding.device)[None, :]
    return (positions * num_classes // lengths).clamp(max=num_classes - 1)


def policy_pairs(separators: torch.Tensor, policy: str = "cls_global") -> tuple[torch.Tensor, torch.Tensor]:
    """The special-token policy of the learned windows, (B, L, L) each: ``always`` kept (the
    diagonal and the policy's global rows and columns) and ``never`` kept (the other pairs of a
    token no window may link), for (B, L) bool [SEP] positions; position 0 is [CLS]. The policy is
    the fixed masks' (masks.inputs.special_token_links): under like_words [CLS] is windowed like a
    word. The windows and their budget (objectives.DensityBudget) both take it from here."""
    batch, length = separators.shape
    special = separators.clone()
    special[:, 0] = True  # [CLS]
    hubs, linkable = special_token_links(special, policy)
    always = torch.eye(length, dtype=torch.bool, device=separators.device) | hubs
    never = ~(linkable[:, :, None] & linkable[:, None, :]) & ~always
    return always, never


@dataclass
class LearnedBatch:
    """What every layer's attention needs for one batch, built once per batch."""

    degrees: "LearnedNeighbourDegrees"
    distance: torch.Tensor  # (L, L) |i - j|
    classes: torch.Tensor  # (B, L) query position class
    real_pairs: torch.Tensor  # (B, 1, L, L) bool: both tokens real
    always: torch.Tensor  # (B, 1, L, L) bool: kept by policy ([CLS] row/column, diagonal)
    never: torch.Tensor  # (B, 1, L, L) bool: dropped by policy ([SEP] rows and columns, but ``always``)
    densities: list = field(default_factory=list)  # per layer: (B,) mean kept weight over real pairs and heads
    # per layer, of hardened windows only (evaluation): (B, L, L) pairs some head keeps, and (B, L)
    # each row's kept real pairs, mean over heads; per_example_effective_sparsity reads them
    reach: list = field(default_factory=list)
    row_counts: list = field(default_factory=list)

    def record(self, kept: torch.Tensor, hard: bool) -> None:
        """One layer's (B, H, L, L) keep-weights: their density, and with hardened windows what
        effective sparsity needs."""
        real = self.real_pairs.to(kept.dtype)
        n_squared = real.sum((-1, -2)).clamp(min=1)  # (B, 1)
        self.densities.append(((kept * real).sum((-1, -2)) / n_squared).mean(-1))  # (B,)
        if hard:
            self.reach.append((kept.detach() > 0).any(1) & self.real_pairs[:, 0])
            self.row_counts.append((kept.detach() * real).sum(-1).mean(1))

    @classmethod
    def build(cls, degrees: "LearnedNeighbourDegrees", padding: torch.Tensor, separators: torch.Tensor | None = None) -> "LearnedBatch":
        """``separators``: (B, L) bool, the [SEP] positions (special tokens after [CLS]); the policy
        is the windows' config's (masks.special_tokens)."""
        length = padding.shape[-1]
        index = torch.arange(length, device=padding.device)
        real = padding.bool()
        real_pairs = (real[:, :, None] & real[:, None, :])[:, None]
        if separators is None:
            separators = torch.zeros_like(real)
        always, never = policy_pairs(separators.bool(), degrees.config.special_tokens)
        return cls(
            degrees=degrees,
            distance=(index[:, None] - index[None, :]).abs().float(),
            classes=position_classes(padding, degrees.config.num_classes),
            real_pairs=real_pairs,
            always=always[:, None],
            never=never[:, None],
        )


class LearnedNeighbourDegrees(nn.Module):
    """The radii z[layer, head, class] and the masks they imply."""

    def __init__(self, num_layers: int, num_heads: int, config: LearnedConfig):
        super().__init__()
        self.config = config
        self.radius = nn.Parameter(torch.full((num_layers, num_heads, config.num_classes), float(config.initial_radius)))
        self.hard = False  # evaluation: integer windows
        if config.frozen_windows is not None:  # the middle of each window's range of radii, not learned
            windows = torch.tensor(config.frozen_windows, dtype=torch.float32)
            if windows.shape != self.radius.shape:
                raise ValueError(f"frozen windows of shape {tuple(windows.shape)}; this model needs {tuple(self.radius.shape)}")
            with torch.no_grad():
                self.radius.copy_(windows + 0.5 - config.ramp / 2)
            self.radius.requires_grad_(False)

    @property
    def frozen(self) -> bool:
        return self.config.frozen_windows is not None

    def windows(self) -> torch.Tensor:
        """Hardened integer windows w = floor(z + R/2), (layers, heads, classes)."""
        return torch.floor(self.radius.detach() + self.config.ramp / 2).clamp(min=0).long()

    @torch.no_grad()
    def project(self, longest: int) -> None:
        """Radii back into the range where the ramp covers a real distance of the longest example."""
        low = self.config.min_radius
        self.radius.clamp_(min=low, max=max(longest - 1 - RADIUS_MARGIN, low))

    def weights(self, layer: int, batch: LearnedBatch) -> torch.Tensor:
        """(B, H, L, L) 0/1 keep-weights of one layer (the hardened windows); while training their
        gradient is the soft ramp's (straight-through)."""
        radius = self.radius[layer]  # (H, C)
        per_query = radius[:, batch.classes].permute(1, 0, 2)[..., None]  # (B, H, L, 1)
        distance = batch.distance[None, None]
        hard = (distance <= torch.floor(per_query.detach() + self.config.ramp / 2)).to(radius.dtype)
        if self.hard:
            kept = hard
        else:
            soft = ((self.config.ramp + per_query - distance) / self.config.ramp).clamp(0, 1)
            kept = hard + soft - soft.detach()
        kept = torch.where(batch.never, torch.zeros_like(kept), kept)
        return torch.where(batch.always, torch.ones_like(kept), kept)

    def attention(self, module, query, key, value, additive_padding, batch: LearnedBatch, dropout: float, scaling: float):
        """Eager attention with the keep-weights applied to the probabilities (then renormalised)."""
        scores = torch.matmul(query, key.transpose(2, 3)) * scaling
        if additive_padding is not None:
            scores = scores + additive_padding[:, :, :, : key.shape[-2]]
        probabilities = torch.softmax(scores, dim=-1, dtype=torch.float32)
        kept = self.weights(module.layer_idx, batch)  # (B, H, L, L): the density below counts every row
        # the rows of the queries computed: all, or [CLS]'s alone in a last layer run for it (cls_only.py)
        probabilities = probabilities * kept[..., : query.shape[-2], :]
        probabilities = probabilities / probabilities.sum(-1, keepdim=True).clamp(min=1e-9)
        batch.record(kept, self.hard)
        probabilities = nn.functional.dropout(probabilities.to(query.dtype), p=dropout, training=module.training)
        output = torch.matmul(probabilities, value).transpose(1, 2).contiguous()
        return output, probabilities


def expected_density(batch: LearnedBatch) -> torch.Tensor:
    """Mean keep-weight over examples, layers, heads and real pairs: 1 - the hardened sparsity
    (with the soft ramp's gradient while training)."""
    return torch.stack(batch.densities).mean()


def per_example_sparsity(batch: LearnedBatch) -> torch.Tensor:
    """(B,) 1 - kept pairs / n^2, averaged over layers and heads (exact when the masks are hard)."""
    return 1 - torch.stack(batch.densities).mean(0)


def per_example_effective_sparsity(batch: LearnedBatch) -> torch.Tensor:
    """(B,) the effective sparsity (masks/effective.py) of the hardened windows recorded in the
    batch: rows reachable from [CLS]'s last-layer row through the pairs some head keeps, each
    reachable row's kept pairs (mean over heads) summed over layers, against the unmasked model's
    (layers - 1) n^2 + n. Under cls_global every row below the last is reachable and [CLS]'s row is
    whole; under like_words narrow windows leave rows unreachable, which count as masked."""
    if not batch.reach:
        raise ValueError("no hardened windows recorded: effective sparsity is measured at evaluation")
    real = batch.real_pairs[:, 0]
    n = real.diagonal(dim1=-2, dim2=-1).sum(-1).double()  # (B,)
    needed = torch.zeros_like(real[:, 0])
    needed[:, 0] = True
    kept = torch.zeros_like(n)
    for reach, counts in zip(reversed(batch.reach), reversed(batch.row_counts)):
        kept += (counts.double() * needed).sum(-1)
        needed = (reach & needed[:, :, None]).any(1)
    layers = len(batch.reach)
    return 1 - kept / ((layers - 1) * n**2 + n)


def learned_config_for_setting(section: dict, variant: str, setting: str, frozen_windows=None) -> LearnedConfig:
    """The config of one sweep point: section = config['learned_sparsity'], setting = 'penalty0.3'
    or 'target0.8' (the run directory's name); variant '<variant>_frozen' is the control, with the
    learned run's ``frozen_windows``."""
    variant = learned_variant(variant)
    objective, value = parse_setting(setting)
    if objective != section["objective"]:  # the validated section: the schema filled its defaults
        raise ValueError(f"setting {setting!r} does not match learned_sparsity.objective={section['objective']!r}")
    known = {k: section[k] for k in ("ramp", "initial_radius", "radius_learning_rate", "budget_sample", "classes",
                                     "special_tokens") if k in section}
    sweep = {"penalty": value} if objective == "penalty" else {"target_sparsity": value}
    return LearnedConfig(variant=variant, objective=objective, **known, **sweep, frozen_windows=frozen_windows)
