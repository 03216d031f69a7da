"""MobileBERT's progressive knowledge transfer as a phase schedule.

One phase per student layer that has a teacher layer to learn from, then a prediction
phase. In layer phase l only student layer l's transfer terms are active; layers below
keep training at ``lower_lr_scale`` × the learning rate, layers above, the embeddings
and the classifier are frozen. The prediction phase trains everything on the prediction
terms. Each phase has its own step budget and its own warm-up and decay (the paper
trains each layer to convergence, then distils the prediction layer): the layer phases
share ``1 − prediction_share`` of the steps equally, the prediction phase gets
``prediction_share``. (Sun et al. 2020, §3.5 "Progressive Knowledge Transfer".)
"""

from __future__ import annotations

from typing import cast

import lightning as L
from torch import Tensor

from distill_zoo.errors import ConfigError
from distill_zoo.models.dims import transformer_layers
from distill_zoo.objectives import MobileBERTObjective
from distill_zoo.training.module import DistillationModule
from distill_zoo.training.phases import PhaseSchedule

PREDICTION = "prediction"


class ProgressiveTransfer(PhaseSchedule):
    """Drives ``objective.phase`` and which student layers train, at which learning rate.

    Args:
        lower_lr_scale: learning-rate factor of the layers below the current one (0.1 in the paper).
        prediction_share: share of the optimiser steps given to the prediction phase, in (0, 1).
    """

    def __init__(self, lower_lr_scale: float = 0.1, prediction_share: float = 0.5) -> None:
        super().__init__()
        if not 0.0 < prediction_share < 1.0:
            raise ConfigError(f"prediction_share must lie in (0, 1), got {prediction_share}")
        self.lower_lr_scale = lower_lr_scale
        self.prediction_share = prediction_share
        #: Each parameter group's configured learning rate, before any phase scaled it.
        self.base_lrs: list[float | Tensor] = []

    def phases(self, trainer: L.Trainer, pl_module: DistillationModule) -> list[tuple[str, float]]:
        if not hasattr(pl_module.objective, "layer_phases"):
            raise ConfigError(
                f"progressive transfer needs an objective with layer phases, not {type(pl_module.objective).__name__}"
            )
        objective = cast(MobileBERTObjective, pl_module.objective)  # the objective with layer phases
        layers = objective.layer_phases()
        # ``initial_lr`` is the rate the optimiser was configured with (set by the scheduler,
        # saved and restored with the optimiser). The scheduler's ``base_lrs`` will not do: they
        # hold the scaled rates of the phase a resumed checkpoint was written in.
        self.base_lrs = [group["initial_lr"] for group in trainer.optimizers[0].param_groups]
        if not objective.trains_head:  # a corpus run or an intermediate stage: no prediction phase
            if not layers:
                raise ConfigError(f"progressive transfer: {type(objective).__name__} has no active term")
            return [(f"layer{layer}", 1.0) for layer in layers]
        if not layers:
            return [(PREDICTION, 1.0)]
        share = (1.0 - self.prediction_share) / len(layers)
        return [*((f"layer{layer}", share) for layer in layers), (PREDICTION, self.prediction_share)]

    def enter(self, index: int, trainer: L.Trainer, pl_module: DistillationModule) -> None:
        name = self.plan[index][0]
        last = name == PREDICTION
        model = pl_module.student.model
        current = None if last else int(name.removeprefix("layer"))
        objective = cast(MobileBERTObjective, pl_module.objective)  # phases() checked it has layer phases
        objective.phase = objective.num_student_layers if last else current
        scales: dict[str, float] = {"other": 1.0 if last else 0.0, "objective": 1.0}
        layers = transformer_layers(model)
        for i, layer in enumerate(layers):
            scale = 1.0 if current is None or i == current else (self.lower_lr_scale if i < current else 0.0)
            scales[f"layer{i}"] = scale
            layer.requires_grad_(scale > 0)
        layer_params = {id(p) for layer in layers for p in layer.parameters()}
        for p in model.parameters():
            if id(p) not in layer_params:
                p.requires_grad_(last)
        scheduler = trainer.lr_scheduler_configs[0].scheduler
        for i, group in enumerate(trainer.optimizers[0].param_groups):
            scheduler.base_lrs[i] = self.base_lrs[i] * scales[group["name"]]
