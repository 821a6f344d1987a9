"""What holds the learned windows' density: a penalty on the expected density, or the budget that
places the radii so the hardened masks sit at the target sparsity after every step."""

from __future__ import annotations

import torch

from .windows import LearnedConfig, LearnedNeighbourDegrees


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
