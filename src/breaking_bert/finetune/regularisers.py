"""What the training loop calls besides the task loss: nothing for a fixed pattern, the learned
windows for experiment 3. The loop asks each the same things (what it adds to a batch's inputs,
its optimizer groups, a loss term, what to do after an optimizer step, what an evaluation
measures, what to report), so the learned variant lives here rather than in branches of the loop."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from ..learned import (
    DensityBudget,
    DensityObjective,
    LearnedBatch,
    LearnedNeighbourDegrees,
    expected_density,
    per_example_effective_sparsity,
    per_example_sparsity,
)
from ..masks import effective_sparsities
from .data import separator_positions


class FixedPattern:
    """A fixed mask (or none): no parameters of its own, no inputs beyond the batch's, no loss term;
    its evaluation reports the effective sparsity of the eval masks at the placement's layers."""

    module = None

    def add_inputs(self, inputs: dict, data, indices) -> None:
        pass

    def param_groups(self) -> list[dict]:
        return []

    def loss(self, inputs) -> float:
        return 0.0

    def after_step(self) -> None:
        pass

    def start_evaluation(self) -> None:
        pass

    def observe(self, inputs) -> None:
        pass

    def evaluation_metrics(self) -> dict:
        return {}

    def final_metrics(self, evaluation, layers: frozenset, model) -> dict:
        """Computed once, after the last evaluation: the masks do not change between epochs."""
        if evaluation.masks is None or not layers:
            return {"effective_sparsity_mean": 0.0}  # dense
        effective = effective_sparsities(evaluation.masks, layers, model.config.num_hidden_layers)
        return {"effective_sparsity_mean": float(effective.mean())}

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
                                        [train.separators[i] for i in sample], self.config.special_tokens)
            self.budget.hold(self.module, self.longest)

    def add_inputs(self, inputs: dict, data, indices) -> None:
        """The learned windows' batch (built once per batch, read by every layer)."""
        padding = inputs["attention_mask"]
        separators = torch.from_numpy(separator_positions(data, indices, padding.shape[-1])).to(padding.device)
        inputs["learned_attention"] = LearnedBatch.build(self.module, padding, separators)

    def start_evaluation(self) -> None:
        self.module.hard = True  # integer windows
        self.observed = {"sparsity": [], "effective": []}

    def observe(self, inputs) -> None:
        batch = inputs["learned_attention"]
        self.observed["sparsity"].append(per_example_sparsity(batch).float().cpu().numpy())
        self.observed["effective"].append(per_example_effective_sparsity(batch).float().cpu().numpy())

    def evaluation_metrics(self) -> dict:
        """The hardened masks' sparsity over the evaluation, per example, and their effective sparsity."""
        self.module.hard = False
        sparsity, effective = (np.concatenate(self.observed[k]) for k in ("sparsity", "effective"))
        return {"sparsity_mean": float(sparsity.mean()), "sparsity_std": float(sparsity.std()),
                "effective_sparsity_mean": float(effective.mean())}

    def final_metrics(self, evaluation, layers: frozenset, model) -> dict:
        return {}  # every evaluation reports them

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
