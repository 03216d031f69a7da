"""Stage ``distill``: train the student against the frozen teacher with the chosen objective."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from distill_zoo.data import GlueDataModule, TaskSpec
from distill_zoo.objectives import Objective
from distill_zoo.pipeline.builders import build, build_method_callbacks, build_student, build_trainer
from distill_zoo.training import DistillationModule


def distill(
    cfg: DictConfig,
    spec: TaskSpec,
    teacher: PreTrainedModel,
    objective: Objective,
    datamodule: GlueDataModule,
    loggers: list[Logger],
    out_dir: Path,
) -> tuple[PreTrainedModel, L.Trainer]:
    """Build the student from the fine-tuned teacher and train it; return it and its trainer."""
    L.seed_everything(cfg.seed, workers=True)
    student = build_student(cfg, teacher, spec.num_labels)
    module = DistillationModule(
        student=student,
        objective=objective,
        teacher=teacher,
        metrics=spec.metrics,
        optimizer=build(cfg.optimizer),
        warmup_ratio=cfg.warmup_ratio,
    )
    trainer = build_trainer(
        cfg, cfg.trainer.max_epochs, loggers=loggers, root_dir=out_dir, callbacks=build_method_callbacks(cfg)
    )
    trainer.fit(module, datamodule=datamodule)
    return student, trainer


def save_student(student: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, path: Path) -> None:
    """Export in Hugging Face format: ``AutoModelForSequenceClassification.from_pretrained(path)`` loads it."""
    tmp = path.with_name(path.name + ".partial")
    student.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.replace(path)
