"""What the training loop calls besides the task loss: nothing for a fixed pattern, the learned
windows for experiment 3. The loop asks each the same four things (its optimizer groups, a loss
term, what to do after an optimizer step, what to report), so the learned variant lives here rather
than in branches of the loop."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from ..learned import DensityBudget, DensityObjective, LearnedNeighbourDegrees, expected_density


class FixedPattern:
    """A fixed mask (or none): no parameters of its own, no loss term, nothing to report."""

    module = None  # what collation builds the learned windows' batch from

    def param_groups(self) -> list[dict]:
        return []

    def loss(self, inputs) -> float:
        return 0.0

    def after_step(self) -> None:
        pass

    def results(self, optimizer) -> dict:
        return {}


class LearnedWindows(FixedPattern):
    """Experiment 3: each layer and head's neighbour window learned with the model (a submodule, so
    checkpointed with it), held at the target sparsity after every step (or pushed by a density
    penalty); a frozen control's windows are fixed (no parameters, no loss, no steps)."""

    def __init__(self, job, model, train, device, seed: int):
        self.config = job.learned
        self.module = LearnedNeighbourDegrees(model.config.num_hidden_layers, model.config.num_attention_heads, job.learned)
        model.learned_degrees = self.module.to(device)
        self.longest = int(train.lengths().max()) if len(train) else 1
        self.objective, self.budget = None, None
        if self.module.frozen:
            return
        if self.config.objective == "penalty":
            self.objective = DensityObjective(self.config)
        else:
            sample = np.random.default_rng(seed).permutation(len(train))[: self.config.budget_sample]
            self.budget = DensityBudget(train.lengths()[sample], self.config.num_classes, self.config.target_sparsity,
                                        [train.separators[i] for i in sample])
            self.budget.hold(self.module, self.longest)

    def param_groups(self) -> list[dict]:
        if self.module.frozen:
            return []
        return [{"params": [self.module.radius], "weight_decay": 0.0, "lr": self.config.radius_learning_rate}]

    def loss(self, inputs) -> torch.Tensor | float:
        return self.objective(expected_density(inputs["learned_attention"])) if self.objective is not None else 0.0

    def after_step(self) -> None:
        if self.budget is not None:
            self.budget.hold(self.module, self.longest)
        elif not self.module.frozen:
            self.module.project(self.longest)

    def results(self, optimizer) -> dict:
        windows = self.module.windows()
        return {
            "learned": asdict(self.config),
            "learned_windows": windows.cpu().tolist(),  # [layer][head][class], hardened
            "learned_radius": self.module.radius.detach().cpu().tolist(),
            "radius_learning_rate_last": float(optimizer.param_groups[-1]["lr"]) if self.param_groups() else 0.0,
            "budget_sparsity": 1 - self.budget.density(windows) if self.budget is not None else None,
        }


def regulariser_for(job, model, train, device, seed: int) -> FixedPattern:
    return LearnedWindows(job, model, train, device, seed) if job.learned is not None else FixedPattern()
