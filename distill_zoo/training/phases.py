"""Runs split into phases, each with its own step budget and its own warm-up and decay.

MobileBERT's progressive transfer (one phase per student layer, then the prediction
layer) and MiniLM's protocol (relation transfer, then fine-tuning) are phase schedules.
Each phase gets ``share`` of the run's optimiser steps and a learning-rate schedule of
its own: linear warm-up over ``warmup_ratio`` of the phase, then linear decay to 0 at
the phase's end, so a later phase never starts at an already-decayed rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

import lightning as L
from torch.optim.lr_scheduler import LambdaLR

from distill_zoo.errors import ConfigError
from distill_zoo.training.module import DistillationModule


def split_steps(total: int, shares: Sequence[float]) -> list[int]:
    """Integer step budgets proportional to ``shares`` that add up to ``total``, each at least 1.

    Largest-remainder rounding, ties to the earlier phase.
    """
    if any(s <= 0 for s in shares):
        raise ConfigError(f"phase shares must be > 0, got {list(shares)}")
    if total < len(shares):
        raise ConfigError(
            f"{len(shares)} training phases need at least {len(shares)} optimiser steps, the run has {total}"
        )
    scale = total / sum(shares)
    exact = [s * scale for s in shares]
    budget = [max(1, int(x)) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - int(exact[i])), i))
    i = 0
    while sum(budget) < total:
        budget[order[i % len(order)]] += 1
        i += 1
    while sum(budget) > total:
        j = max(range(len(budget)), key=lambda k: budget[k])
        budget[j] -= 1
    return budget


class PhaseSchedule(L.Callback):
    """Base class: subclasses name the phases, their shares, and what entering one changes.

    After ``on_train_start`` the plan is in ``self.plan`` as (name, first step, steps)
    and ``self.entered`` lists (global step, phase name) as phases begin.
    """

    def __init__(self) -> None:
        self.plan: list[tuple[str, int, int]] = []
        self.entered: list[tuple[int, str]] = []
        self.current: int | None = None

    def phases(self, trainer: L.Trainer, pl_module: DistillationModule) -> list[tuple[str, float]]:
        """(name, share of the steps) for every phase, in order."""
        raise NotImplementedError

    def enter(self, index: int, trainer: L.Trainer, pl_module: DistillationModule) -> None:
        """Switch the objective and the trainable parameters to phase ``index``."""
        raise NotImplementedError

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        module = cast(DistillationModule, pl_module)  # the one LightningModule of distill_zoo
        named = self.phases(trainer, module)
        total = int(trainer.estimated_stepping_batches)
        budgets = split_steps(total, [share for _, share in named])
        starts = [sum(budgets[:i]) for i in range(len(budgets))]
        self.plan = [(name, start, steps) for (name, _), start, steps in zip(named, starts, budgets)]
        module.phase_starts = starts
        self.current = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        step = trainer.global_step
        index = max(i for i, (_, start, _) in enumerate(self.plan) if start <= step)
        if index != self.current:
            self.current = index
            self.entered.append((step, self.plan[index][0]))
            self.enter(index, trainer, cast(DistillationModule, pl_module))
            _refresh_lr(trainer)


def _refresh_lr(trainer: L.Trainer) -> None:
    """Apply the (possibly rescaled) schedule at the current step right away."""
    scheduler = cast(LambdaLR, trainer.lr_scheduler_configs[0].scheduler)  # DistillationModule's schedule
    for index, group in enumerate(trainer.optimizers[0].param_groups):
        group["lr"] = scheduler.base_lrs[index] * scheduler.lr_lambdas[index](scheduler.last_epoch)


class PhasedObjective(Protocol):
    """An objective trained in named phases (MiniLM's ``transfer``/``finetune``)."""

    phase: str | None


class FineTunePhase(PhaseSchedule):
    """Distil, then fine-tune: MiniLM's protocol for a task run, inside the run's step budget.

    The objective's transfer terms train for ``1 − finetune_share`` of the steps, then
    its head terms (labels) for ``finetune_share``, each phase with its own warm-up and
    decay. The objective must have a ``phase`` attribute (``transfer``/``finetune``).

    Args:
        finetune_share: share of the optimiser steps given to fine-tuning, in (0, 1).
    """

    def __init__(self, finetune_share: float = 0.5) -> None:
        super().__init__()
        if not 0.0 < finetune_share < 1.0:
            raise ConfigError(f"finetune_share must lie in (0, 1), got {finetune_share}")
        self.finetune_share = finetune_share

    def phases(self, trainer: L.Trainer, pl_module: DistillationModule) -> list[tuple[str, float]]:
        objective = pl_module.objective
        if not hasattr(objective, "phase"):
            raise ConfigError(
                f"callbacks=finetune_phase needs an objective with phases, not {type(objective).__name__}"
            )
        head = [t for t in objective.head_terms if objective.active(t)]
        transfer = [t for t, w in objective.weights.items() if w and t not in objective.head_terms]
        if not head or not transfer:
            raise ConfigError(
                f"callbacks=finetune_phase needs transfer terms and head terms with non-zero weights, got "
                f"{objective.weights}; use callbacks=none to train the active terms together"
            )
        return [("transfer", 1.0 - self.finetune_share), ("finetune", self.finetune_share)]

    def enter(self, index: int, trainer: L.Trainer, pl_module: DistillationModule) -> None:
        cast(PhasedObjective, pl_module.objective).phase = self.plan[index][0]
