"""MobileBERT's progressive knowledge transfer as a Lightning callback.

Training is split into N_s + 1 equal phases of optimiser steps. In phase l < N_s only
student layer l's transfer terms are active; layers below l keep training at
``lower_lr_scale`` × the learning rate, layers above l, the embeddings and the
classifier are frozen. The last phase trains everything on the prediction terms.
(Sun et al. 2020, §3.5 "Progressive Knowledge Transfer".)
"""

from __future__ import annotations

import lightning as L

from distill_zoo.errors import ConfigError
from distill_zoo.models.dims import transformer_layers


class ProgressiveTransfer(L.Callback):
    """Drives ``objective.phase`` and which student layers train, at which learning rate.

    Args:
        lower_lr_scale: learning-rate factor of the layers below the current one (0.1 in the paper).
    """

    def __init__(self, lower_lr_scale: float = 0.1) -> None:
        self.lower_lr_scale = lower_lr_scale
        self.phase: int | None = None
        self.phases: list[tuple[int, int]] = []  # (first step, phase) as entered, for inspection

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        objective = pl_module.objective
        if not hasattr(objective, "phase"):
            raise ConfigError(f"progressive transfer needs an objective with phases, not {type(objective).__name__}")
        self.num_phases = objective.num_student_layers + 1
        self.total = int(trainer.estimated_stepping_batches)
        if self.total < self.num_phases:
            raise ConfigError(
                f"progressive transfer needs at least {self.num_phases} optimiser steps (one phase per "
                f"student layer plus prediction), the run has {self.total}; train longer"
            )
        self.scheduler = trainer.lr_scheduler_configs[0].scheduler
        self.base_lrs = list(self.scheduler.base_lrs)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        phase = min(trainer.global_step * self.num_phases // self.total, self.num_phases - 1)
        if phase != self.phase:
            self._enter(phase, trainer, pl_module)

    def _enter(self, phase: int, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.phase = phase
        self.phases.append((trainer.global_step, phase))
        pl_module.objective.phase = phase
        last = phase == self.num_phases - 1
        model = pl_module.student.model
        scales: dict[str, float] = {"other": 1.0 if last else 0.0, "objective": 1.0}
        for i, layer in enumerate(transformer_layers(model)):
            scale = 1.0 if last or i == phase else (self.lower_lr_scale if i < phase else 0.0)
            scales[f"layer{i}"] = scale
            layer.requires_grad_(scale > 0)
        layer_params = {id(p) for layer in transformer_layers(model) for p in layer.parameters()}
        for p in model.parameters():
            if id(p) not in layer_params:
                p.requires_grad_(last)
        optimizer = trainer.optimizers[0]
        for index, group in enumerate(optimizer.param_groups):
            self.scheduler.base_lrs[index] = self.base_lrs[index] * scales[group["name"]]
            group["lr"] = self.scheduler.base_lrs[index] * self.scheduler.lr_lambdas[index](self.scheduler.last_epoch)
