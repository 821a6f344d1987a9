"""What holds the learned windows' density: a penalty on the expected density, or the budget that
places the radii so the hardened masks sit at the target sparsity after every step."""

from __future__ import annotations

import torch

from .windows import LearnedConfig, LearnedNeighbourDegrees, policy_pairs


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

    The budget counts effective connections only (masks/effective.py): the last layer's windows
    change no logit ([CLS]'s row, the only one the classifier reads, is always kept), so a budget
    over every layer would let a run park sparsity there for free. ``density`` is 1 - the effective
    sparsity ``per_example_effective_sparsity`` measures, and ``place`` leaves the last layer's
    radii where they are.
    """

    def __init__(self, lengths, num_classes: int, target_sparsity: float, separators=None, policy: str = "cls_global"):
        """``separators``: per example, the [SEP] positions (None: no [SEP] set apart); ``policy``:
        masks.special_tokens. Under like_words [CLS]'s rows are windowed, so rows below the last may
        not reach the classifier: the budget still counts them all (an upper bound on the effective
        density), and the effective sparsity the run records, measured exactly, may exceed the target."""
        separators = list(separators) if separators is not None else [()] * len(lengths)
        examples = [(int(n), [int(p) for p in positions]) for n, positions in zip(lengths, separators) if n > 0]
        lengths = [n for n, _ in examples]
        self.max_window = max(lengths) - 1
        never = self.max_window + 1  # a window no radius reaches
        pairs = torch.zeros(len(lengths), num_classes, never + 1, dtype=torch.float64)
        for s, (n, positions) in enumerate(examples):
            index = torch.arange(n)
            needed = (index[:, None] - index[None, :]).abs()  # the smallest window keeping (i, j)
            separators = torch.zeros(1, n, dtype=torch.bool)
            separators[0, positions] = True
            always, excluded = policy_pairs(separators, policy)
            needed[excluded[0]] = never
            needed[always[0]] = 0
            classes = (index * num_classes // n).clamp(max=num_classes - 1)
            for c in range(num_classes):
                pairs[s, c] = torch.bincount(needed[classes == c].flatten(), minlength=never + 1).cumsum(0)
        pairs = pairs[:, :, : self.max_window + 1]
        lengths = torch.tensor(lengths, dtype=torch.float64)
        self.pairs = pairs / lengths[:, None, None] ** 2
        self.last_layer_share = 1 / lengths  # [CLS]'s row of the last layer, n pairs, in units of n^2
        self.target_density = 1.0 - target_sparsity

    def density(self, windows: torch.Tensor) -> float:
        """Hardened effective density of integer windows (layers, heads, classes) on the sample:
        per example, (the layers below the last, summed, + [CLS]'s row of the last) / (their pairs)."""
        layers, heads, classes = windows.shape
        lower = windows[:-1].reshape(-1, classes).clamp(0, self.max_window).cpu()  # ((L-1)H, C)
        per_class = [self.pairs[:, c, lower[:, c]] for c in range(classes)]  # each (S, (L-1)H)
        kept = torch.stack(per_class).sum(0).sum(-1) / heads if len(lower) else torch.zeros(len(self.pairs))
        share = self.last_layer_share
        return float(((kept + share) / (layers - 1 + share)).mean())

    def place(self, radius: torch.Tensor, ramp: float) -> torch.Tensor:
        """Radii whose windows floor(z + R/2) come closest to the target density: all shifted by one
        common offset to the densest configuration below the target, then the radii nearest to
        their next window moved into it one at a time while that gets closer. (One at a time
        matters when radii are tied, e.g. heads that got the same updates: a common shift would
        move them all at once.) The relative positions of the radii are kept otherwise."""
        if radius.shape[0] < 2:
            return radius  # one layer: nothing but [CLS]'s row reaches the classifier
        lower = radius[:-1]
        z = lower.detach().double().cpu().flatten() + ramp / 2
        last = torch.zeros((1, *radius.shape[1:]), dtype=torch.long)  # not counted (density)

        def density_of(values: torch.Tensor) -> float:
            return self.density(torch.cat([torch.floor(values).long().view(lower.shape), last]))

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
        placed = (base - ramp / 2).view(lower.shape).to(radius.dtype).to(radius.device)
        return torch.cat([placed, radius[-1:].detach()])

    def hold(self, degrees: "LearnedNeighbourDegrees", longest: int | None = None) -> float:
        """Put the radii on the budget (and back into their gradient range); returns the sample's
        hardened density."""
        with torch.no_grad():
            degrees.radius.copy_(self.place(degrees.radius, degrees.config.ramp).to(degrees.radius.device))
        degrees.project(longest if longest is not None else self.max_window + 1)
        return self.density(degrees.windows())
