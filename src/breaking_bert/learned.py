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

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .vocabulary import learned_variant, parse_setting

VARIANTS = ("regular", "irregular")
RADIUS_MARGIN = 0.01  # keeps the projected radii strictly inside the range where they get gradient
OBJECTIVES = ("penalty", "target")


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

    @classmethod
    def build(cls, degrees: "LearnedNeighbourDegrees", padding: torch.Tensor, separators: torch.Tensor | None = None) -> "LearnedBatch":
        """``separators``: (B, L) bool, the [SEP] positions (special tokens after [CLS])."""
        length = padding.shape[-1]
        index = torch.arange(length, device=padding.device)
        real = padding.bool()
        real_pairs = (real[:, :, None] & real[:, None, :])[:, None]
        always = torch.eye(length, dtype=torch.bool, device=padding.device)
        always[0, :] = True  # [CLS] attends to every token
        always[:, 0] = True  # and every token attends to [CLS]
        always = always[None, None].expand_as(real_pairs)
        if separators is None:
            never = torch.zeros_like(real_pairs)
        else:
            separators = separators.bool()
            never = (separators[:, :, None] | separators[:, None, :])[:, None] & ~always
        return cls(
            degrees=degrees,
            distance=(index[:, None] - index[None, :]).abs().float(),
            classes=position_classes(padding, degrees.config.num_classes),
            real_pairs=real_pairs,
            always=always,
            never=never,
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
    """Mean keep-weight over examples, layers, heads and real pairs: 1 - the hardened sparsity
    (with the soft ramp's gradient while training)."""
    return torch.stack(batch.densities).mean()


def per_example_sparsity(batch: LearnedBatch) -> torch.Tensor:
    """(B,) 1 - kept pairs / n^2, averaged over layers and heads (exact when the masks are hard)."""
    return 1 - torch.stack(batch.densities).mean(0)


class DensityObjective:
    """Objective 'penalty': the penalty on the expected density added to the task loss."""

    def __init__(self, config: LearnedConfig):
        self.config = config

    def __call__(self, density: torch.Tensor) -> torch.Tensor:
        return self.config.penalty * density


class DensityBudget:
    """Objective 'target': the exact hardened density of any windows on a sample of examples, and
    the placement of the radii that puts it closest to the target.

    ``pairs[s, c, w]`` counts example s's real pairs (i, j) with query i in position class c that
    windows of w keep (|i - j| <= w, or the [CLS] row or column, or the diagonal; never another
    pair of a [SEP] row or column), so the density of windows
    W[layer, head, class] is the mean over s, layers and heads of ``sum_c pairs[s, c, W] / n_s^2``,
    the same quantity ``per_example_sparsity`` measures on hardened masks.
    """

    def __init__(self, lengths, num_classes: int, target_sparsity: float, separators=None):
        """``separators``: per example, the [SEP] positions (None: no [SEP] set apart)."""
        separators = list(separators) if separators is not None else [()] * len(lengths)
        examples = [(int(n), [int(p) for p in positions]) for n, positions in zip(lengths, separators) if n > 0]
        lengths = [n for n, _ in examples]
        self.max_window = max(lengths) - 1
        never = self.max_window + 1  # a window no radius reaches
        pairs = torch.zeros(len(lengths), num_classes, never + 1, dtype=torch.float64)
        for s, (n, positions) in enumerate(examples):
            index = torch.arange(n)
            needed = (index[:, None] - index[None, :]).abs()  # the smallest window keeping (i, j)
            needed[positions, :] = never
            needed[:, positions] = never
            needed[0, :] = needed[:, 0] = 0
            needed.fill_diagonal_(0)
            classes = (index * num_classes // n).clamp(max=num_classes - 1)
            for c in range(num_classes):
                pairs[s, c] = torch.bincount(needed[classes == c].flatten(), minlength=never + 1).cumsum(0)
        pairs = pairs[:, :, : self.max_window + 1]
        self.pairs = pairs / torch.tensor(lengths, dtype=torch.float64)[:, None, None] ** 2
        self.target_density = 1.0 - target_sparsity

    def density(self, windows: torch.Tensor) -> float:
        """Hardened density of integer windows (layers, heads, classes) on the sample."""
        flat = windows.reshape(-1, windows.shape[-1]).clamp(0, self.max_window).cpu()  # (LH, C)
        per_class = [self.pairs[:, c, flat[:, c]] for c in range(flat.shape[1])]  # each (S, LH)
        return float(torch.stack(per_class).sum(0).mean())

    def place(self, radius: torch.Tensor, ramp: float) -> torch.Tensor:
        """Radii whose windows floor(z + R/2) come closest to the target density: all shifted by one
        common offset to the densest configuration below the target, then the radii nearest to
        their next window moved into it one at a time while that gets closer. (One at a time
        matters when radii are tied, e.g. heads that got the same updates: a common shift would
        move them all at once.) The relative positions of the radii are kept otherwise."""
        z = radius.detach().double().cpu().flatten() + ramp / 2

        def density_of(values: torch.Tensor) -> float:
            return self.density(torch.floor(values).long().view(radius.shape))

        low, high = -float(z.max()) - 1, self.max_window + 1 - float(z.min())  # all 0 / all max
        for _ in range(60):  # the largest common offset still below the target density
            middle = (low + high) / 2
            if density_of(z + middle) >= self.target_density:
                high = middle
            else:
                low = middle
        # the middle of the offsets that give this configuration, not its edge, where float32
        # rounding of the radii could flip a window
        start = float((torch.floor(z + low) - z).max())
        base = z + (start + high) / 2
        gaps = torch.floor(base) + 1 - base  # how far each radius is from its next window
        order = torch.argsort(gaps, stable=True)
        windows = torch.floor(base)
        best, best_error = 0, abs(density_of(windows) - self.target_density)
        for moved, k in enumerate(order.tolist(), start=1):
            windows[k] += 1
            density = density_of(windows)
            if abs(density - self.target_density) < best_error:
                best, best_error = moved, abs(density - self.target_density)
            if density > self.target_density:
                break  # each further step only goes further above
        lifted = order[:best]
        base[lifted] += gaps[lifted] + 0.5  # the middle of the next window, so one small step keeps it
        return (base - ramp / 2).view(radius.shape).to(radius.dtype)

    def hold(self, degrees: "LearnedNeighbourDegrees", longest: int | None = None) -> float:
        """Put the radii on the budget (and back into their gradient range); returns the sample's
        hardened density."""
        with torch.no_grad():
            degrees.radius.copy_(self.place(degrees.radius, degrees.config.ramp).to(degrees.radius.device))
        degrees.project(longest if longest is not None else self.max_window + 1)
        return self.density(degrees.windows())


def learned_config_for_setting(section: dict, variant: str, setting: str, frozen_windows=None) -> LearnedConfig:
    """The config of one sweep point: section = config['learned_sparsity'], setting = 'penalty0.3'
    or 'target0.8' (the run directory's name); variant '<variant>_frozen' is the control, with the
    learned run's ``frozen_windows``."""
    variant = learned_variant(variant)
    objective, value = parse_setting(setting)
    if objective != section.get("objective", "target"):
        raise ValueError(f"setting {setting!r} does not match learned_sparsity.objective={section.get('objective', 'target')!r}")
    known = {k: section[k] for k in ("ramp", "initial_radius", "radius_learning_rate", "budget_sample", "classes") if k in section}
    sweep = {"penalty": value} if objective == "penalty" else {"target_sparsity": value}
    return LearnedConfig(variant=variant, objective=objective, **known, **sweep, frozen_windows=frozen_windows)
