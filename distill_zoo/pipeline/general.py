"""General (task-agnostic) distillation: the student learns from the teacher on raw text.

Used when the data config is a corpus (no ``task``). The teacher is taken as it is (no
fine-tuning); objectives that read no task head (TinyBERT's intermediate layers,
MiniLM) run on any encoder, the packaged MiniLM-L6 included. The product is the
student in Hugging Face format, the initialisation of a later task stage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderDims
from distill_zoo.models import encoder_dims
from distill_zoo.pipeline.builders import (
    build,
    build_loggers,
    build_method_callbacks,
    build_objective,
    build_pretrained_teacher,
    build_student,
    build_tokenizer,
    build_trainer,
)
from distill_zoo.pipeline.distill_stage import save_student
from distill_zoo.pipeline.eval_stage import parameter_counts
from distill_zoo.pipeline.report import write_json
from distill_zoo.training import DistillationModule

def run_general(cfg: DictConfig) -> dict[str, Any] | None:
    """Distil on ``cfg.data`` (a corpus); save the student; write ``results.json``."""
    started = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    tokenizer = build_tokenizer(cfg)
    corpus = build(cfg.data)
    corpus.set_tokenizer(tokenizer)
    corpus.lines()
    objective = build_objective(cfg)
    teacher = build_pretrained_teacher(cfg, num_labels=2)  # the head is never read
    L.seed_everything(cfg.seed, workers=True)
    student = build_student(cfg, teacher, num_labels=2)
    _check_general(objective, encoder_dims(student.config), encoder_dims(teacher.config))
    module = DistillationModule(
        student=student, objective=objective, teacher=teacher, optimizer=build(cfg.optimizer), warmup_ratio=cfg.warmup_ratio
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = build_trainer(
        cfg, cfg.trainer.max_epochs, loggers=build_loggers(cfg, out_dir), root_dir=out_dir,
        callbacks=build_method_callbacks(cfg),
    )
    trainer.fit(module, datamodule=corpus)
    if not trainer.is_global_zero:
        return None
    student_dir = out_dir / "student"
    save_student(student, tokenizer, student_dir)
    results = {
        "mode": "general",
        "method": cfg.method.name,
        "seed": cfg.seed,
        "corpus": cfg.data.get("path") or cfg.data.get("hub_name"),
        "steps": trainer.global_step,
        "final_losses": {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")},
        "student": {**parameter_counts(student), "path": str(student_dir), "metrics": {}},
        "teacher": {**parameter_counts(teacher), "path": cfg.teacher.model.get("name_or_path")},
        "wall_time_s": time.perf_counter() - started,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_json(out_dir / "results.json", results)
    print(f"[general] {trainer.global_step} steps; losses {results['final_losses']}; student: {student_dir}")
    return results


def _check_general(objective, student: EncoderDims, teacher: EncoderDims) -> None:
    objective.configure(student, teacher)
    if objective.vocabulary_logits:
        return
    for request in (objective.student_request(), objective.teacher_request()):
        if request.logits:
            raise ConfigError(
                f"{type(objective).__name__} reads task logits, which a general (corpus) run does not "
                "have; use a term set without prediction terms (e.g. method=tinybert "
                "method.stage=intermediate, or method=minilm)"
            )
