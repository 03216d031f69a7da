"""Stage ``distill``: train the student against the frozen teacher with the chosen objective.

One function for task and corpus runs: the datamodule decides what a batch holds.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import Logger
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from distill_zoo.objectives import Objective
from distill_zoo.pipeline.builders import build, build_callbacks, build_trainer
from distill_zoo.pipeline.context import CHECKPOINTS, OBJECTIVE_STATE, RunContext
from distill_zoo.pipeline.lm_sources import on_policy_batches
from distill_zoo.pipeline.teacher_outputs import cached_teacher
from distill_zoo.training import DistillationModule
from distill_zoo.training.checkpoints import fit_resuming
from distill_zoo.training.fsdp import full_state_dict, is_sharded


def distill(ctx: RunContext, student: PreTrainedModel, loggers: list[Logger]) -> L.Trainer:
    """Train ``student`` from ``ctx.teacher_model`` with ``ctx.objective``; return the trainer.

    The data order comes from the datamodule's generator (the run seed) and the global
    stream (dropout) is reseeded right before training, so two methods of one seed see
    the same batches and the same dropout masks whatever they built before.
    """
    cfg = ctx.cfg
    metrics = ctx.spec.metrics if ctx.spec is not None else ()
    checkpoints = ctx.out_dir / CHECKPOINTS
    trainer = build_trainer(
        cfg,
        cfg.trainer.max_epochs,
        loggers=loggers,
        root_dir=ctx.out_dir,
        callbacks=build_callbacks(cfg),
        checkpoint_dir=checkpoints,
    )
    module = DistillationModule(
        student=student,
        objective=ctx.objective,
        teacher=ctx.teacher_model,
        metrics=metrics,
        optimizer=build(cfg.optimizer),
        warmup_ratio=cfg.warmup_ratio,
        gradnorm_every_n_steps=int(cfg.get("gradnorm_every_n_steps") or 0),
        teacher_outputs=cached_teacher(cfg, ctx.datamodule, ctx.objective, ctx.teacher_model, trainer),
        on_policy=on_policy_batches(ctx.datamodule, cfg.seed),
    )
    if hasattr(ctx.datamodule, "train_seed"):
        ctx.datamodule.train_seed = cfg.seed
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    fit_resuming(trainer, module, ctx.datamodule, checkpoints, "distill")
    return trainer


@dataclass(frozen=True)
class GatheredState:
    """The whole student and objective of a sharded (``strategy=fsdp``) run, on rank 0."""

    student: dict[str, torch.Tensor]
    objective: dict[str, torch.Tensor]


def gather_sharded(module: DistillationModule) -> GatheredState | None:
    """Under ``strategy=fsdp``: the full state dicts (a collective every rank joins); else None."""
    if not is_sharded(module.student):
        return None
    student = {k.removeprefix("model."): v for k, v in full_state_dict(module.student).items()}
    has_params = any(True for _ in module.objective.parameters())
    return GatheredState(student, full_state_dict(module.objective) if has_params else {})


def save_student(
    student: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    objective: Objective,
    path: Path,
    gathered: GatheredState | None = None,
) -> None:
    """Export in Hugging Face format (``AutoModelFor*.from_pretrained(path)`` loads it), plus the
    objective's learned state (projections) for a later stage of a chain; written atomically.
    ``gathered``: the full weights of a sharded run, saved instead of the shards ``student`` holds."""
    tmp = path.with_name(path.name + ".partial")
    student.save_pretrained(tmp, state_dict=gathered.student if gathered is not None else None)
    tokenizer.save_pretrained(tmp)
    own = gathered.objective if gathered is not None else objective.state_dict()
    state = {k: v.detach().cpu() for k, v in own.items()}
    if state:
        torch.save({"objective": type(objective).__name__, "state": state}, tmp / OBJECTIVE_STATE)
    if path.exists():
        shutil.rmtree(path)
    tmp.replace(path)
