"""The three stages in order: teacher -> distill -> eval, with every check made up front."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from distill_zoo.data import get_task
from distill_zoo.errors import ConfigError
from distill_zoo.models import encoder_dims, load_classifier
from distill_zoo.pipeline.builders import (
    build_datamodule,
    build_loggers,
    build_objective,
    build_pretrained_teacher,
    build_student,
    build_tokenizer,
)
from distill_zoo.pipeline.distill_stage import distill, save_student
from distill_zoo.pipeline.eval_stage import evaluate_pair
from distill_zoo.pipeline.report import format_table, retention, write_json
from distill_zoo.pipeline.teacher_stage import ensure_teacher, is_cached, teacher_dir

STAGES = ("teacher", "distill", "eval")


def run_pipeline(cfg: DictConfig) -> dict[str, Any] | None:
    """Run ``cfg.stages``; return the results written to ``results.json`` (None on ranks > 0)."""
    started = time.perf_counter()
    stages = list(cfg.stages)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}; stages are {list(STAGES)}")
    out_dir = Path(cfg.paths.output_dir)
    spec = get_task(cfg.data.task)

    # Everything that can fail on bad input fails here, before any training.
    tokenizer = build_tokenizer(cfg)
    datamodule = build_datamodule(cfg, tokenizer)
    datamodule.load_examples()
    objective = build_objective(cfg)
    untrained_teacher = build_pretrained_teacher(cfg, spec.num_labels)
    probe = build_student(cfg, untrained_teacher, spec.num_labels)
    objective.configure(encoder_dims(probe.config), encoder_dims(untrained_teacher.config))
    del probe, untrained_teacher
    cached = teacher_dir(cfg, datamodule.train_digest())
    if "teacher" not in stages and not is_cached(cached):
        raise ConfigError(f"no cached teacher at {cached}; add 'teacher' to stages to fine-tune it first")
    student_dir = out_dir / "student"
    if "distill" not in stages and "eval" in stages and not (student_dir / "config.json").is_file():
        raise ConfigError(f"stage eval needs a distilled student in {student_dir}; add 'distill' to stages")

    out_dir.mkdir(parents=True, exist_ok=True)
    teacher_path = ensure_teacher(cfg, spec, datamodule, tokenizer) if "teacher" in stages else cached
    teacher = load_classifier(str(teacher_path), spec.num_labels)
    if "distill" not in stages and "eval" not in stages:
        return None

    loggers = build_loggers(cfg, out_dir)
    if "distill" in stages:
        student, trainer = distill(cfg, spec, teacher, objective, datamodule, loggers, out_dir)
        if not trainer.is_global_zero:
            return None
        save_student(student, tokenizer, student_dir)
    else:
        student = load_classifier(str(student_dir), spec.num_labels)
    if "eval" not in stages:
        return None

    report = evaluate_pair(teacher, student, datamodule, tokenizer, cfg.eval.latency_runs, cfg.eval.latency_warmup)
    results = {
        "task": spec.name,
        "method": cfg.method.name,
        "seed": cfg.seed,
        "main_metric": spec.main_metric,
        "teacher": {**report["teacher"], "path": str(teacher_path)},
        "student": {**report["student"], "path": str(student_dir)},
        "retention": retention(report["student"]["metrics"], report["teacher"]["metrics"], spec.main_metric),
        "speedup": report["teacher"]["latency_ms_median"] / report["student"]["latency_ms_median"],
        "compression": report["teacher"]["params"] / report["student"]["params"],
        "wall_time_s": time.perf_counter() - started,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_json(out_dir / "results.json", results)
    _log_summary(loggers, results)
    print("\n" + format_table(results))
    print(f"results: {out_dir / 'results.json'}")
    return results


def _log_summary(loggers: list, results: dict[str, Any]) -> None:
    """Teacher and student figures in every logger, so a dashboard can compare runs."""
    flat: dict[str, float] = {}
    for role in ("teacher", "student"):
        for name, value in results[role]["metrics"].items():
            flat[f"{role}/{name}"] = value
        for key in ("params", "params_non_embedding", "latency_ms_median"):
            flat[f"{role}/{key}"] = results[role][key]
    for key in ("retention", "speedup", "compression"):
        if results[key] is not None:
            flat[f"summary/{key}"] = results[key]
    for logger in loggers:
        logger.log_metrics(flat)
        logger.save()
