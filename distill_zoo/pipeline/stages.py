"""The stages in order: teacher -> distill -> eval, with every check made up front.

One path for task runs and corpus (general) runs: :func:`prepare_run` resolves the run
once, the stages receive the result, and every run ends with one :class:`RunRecord`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig
from transformers import PreTrainedModel

from distill_zoo.data import GlueDataModule
from distill_zoo.data.lm_corpus import LMCorpusDataModule
from distill_zoo.models import load_causal_lm, load_classifier
from distill_zoo.pipeline.builders import build_loggers, container
from distill_zoo.pipeline.context import CHECKPOINTS, RunContext, make_student, prepare_run, pretrained_teacher
from distill_zoo.pipeline.distill_stage import distill, gather_sharded, save_student
from distill_zoo.pipeline.eval_stage import evaluate_pair, parameter_counts
from distill_zoo.pipeline.lm_eval import evaluate_lm_pair
from distill_zoo.pipeline.record import (
    PREDICTIONS,
    UNRECORDED,
    ModelReport,
    RunRecord,
    StageInfo,
    git_commit,
    hardware,
    package_versions,
    write_json,
    write_record,
)
from distill_zoo.pipeline.report import format_table, retention
from distill_zoo.pipeline.teacher_stage import ensure_teacher, teacher_description, training_options
from distill_zoo.training import DistillationModule
from distill_zoo.training.checkpoints import earlier_training_seconds

#: Data options that say where things are, not what a run sees (left out of the record's ``data``).
_DATA_LOCATION = ("_target_", "root", "num_workers", "cache_dir", "seed")
#: Logged per step but not a loss term: whether the batch was the student's own (on-policy).
_NOT_LOSSES = ("train/on_policy",)


def run_pipeline(
    cfg: DictConfig, stage: StageInfo | None = None, on_ready: Callable[[str | None], None] | None = None
) -> RunRecord | None:
    """Run ``cfg.stages``; return the record written to ``results.json`` (None on ranks > 0,
    or when the stages stop before ``eval``). ``on_ready(teacher_entry)`` runs once every
    check of :func:`prepare_run` has passed, before anything is trained or written."""
    started = time.perf_counter()
    clock = _StageClock()
    ctx = prepare_run(cfg, stage)
    clock.lap("prepare")
    if on_ready is not None:
        on_ready(ctx.teacher.key)
    stages = list(cfg.stages)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    if ctx.teacher.key is not None:
        if "teacher" in stages:
            assert ctx.spec is not None, "prepare_run fine-tunes a teacher in task runs only"
            teacher_data = cast(GlueDataModule, ctx.teacher_data)  # a task run's data
            ctx.teacher, ctx.teacher_model = ensure_teacher(
                cfg, ctx.teacher, ctx.spec, teacher_data, ctx.tokenizer, ctx.teacher_model
            )
        else:  # prepare_run read the cached entry already
            ctx.teacher_model = load_classifier(str(ctx.teacher.path), ctx.num_labels)
    clock.lap("teacher")
    if "distill" not in stages and "eval" not in stages:
        return None

    student_dir = ctx.out_dir / "student"
    loggers = build_loggers(cfg, ctx.out_dir)
    progress, losses = {"steps_done": 0, "examples_seen": 0}, {}
    teacher_signal = UNRECORDED  # an eval-only run cannot tell how its student was trained
    if "distill" in stages:
        student = ctx.student if ctx.student is not None else make_student(cfg, ctx.teacher_model, ctx.num_labels)
        trainer = distill(ctx, student, loggers)
        module = cast(DistillationModule, trainer.lightning_module)
        gathered = gather_sharded(module)
        if not trainer.is_global_zero:
            return None
        progress = {"steps_done": trainer.global_step, "examples_seen": module.examples_seen}
        if module.on_policy is not None:
            progress["on_policy_examples"] = module.on_policy_examples
        # A process resumed after the last step trained nothing: its losses are the checkpoint's.
        logged = {**module.resumed_train_metrics, **{k: float(v) for k, v in trainer.callback_metrics.items()}}
        losses = {k: v for k, v in logged.items() if k.startswith("train/") and k not in _NOT_LOSSES}
        teacher_signal = module.teacher_signal()
        save_student(student, ctx.tokenizer, ctx.objective, student_dir, gathered)
        if gathered is not None:  # the models in memory hold shards: evaluate whole copies
            student, ctx.teacher_model = _load_student(ctx, student_dir), _reload_teacher(ctx)
        clock.lap("distill")
        # examples_seen counts every process of a resumed run (it is in the checkpoint): so must the time.
        clock.add_earlier("distill", earlier_training_seconds(trainer))
        clock.rate("distill_samples_per_s", progress["examples_seen"], "distill")
    else:
        student = _load_student(ctx, student_dir)
    if "eval" not in stages:
        return None

    wall = time.perf_counter() - started + clock.earlier_s
    record, predictions = _record(ctx, student, progress, losses, teacher_signal, wall, clock)
    if predictions is not None:
        write_json(ctx.out_dir / PREDICTIONS, predictions)
    write_record(ctx.out_dir / "results.json", record)
    # The run is complete: its checkpoint (model, optimiser state) is no longer needed to resume.
    shutil.rmtree(ctx.out_dir / CHECKPOINTS, ignore_errors=True)
    _log_summary(loggers, record)
    if record.main_metric is not None:  # task runs, and causal-LM runs (perplexities)
        print("\n" + format_table(record))
    else:
        print(f"[general] {progress['steps_done']} steps; losses {losses}; student: {student_dir}")
    print(clock.summary())
    print(f"results: {ctx.out_dir / 'results.json'}")
    return record


class _StageClock:
    """Wall seconds of each stage (``<stage>_s``) and training throughput, for the record and the terminal.

    A resumed run's figures cover its earlier processes too (:meth:`add_earlier`), or its
    throughput would divide every example it trained by the last process's time only.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        #: Seconds the run's earlier processes spent, as carried in the checkpoint it resumed from.
        self.earlier_s = 0.0
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[f"{stage}_s"] = now - self._last
        self._last = now

    def add_earlier(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` of ``stage`` spent by the run's earlier (killed or pre-empted) processes."""
        self.seconds[f"{stage}_s"] = self.seconds.get(f"{stage}_s", 0.0) + seconds
        self.earlier_s += seconds

    def rate(self, name: str, count: int, stage: str) -> None:
        elapsed = self.seconds.get(f"{stage}_s") or 0.0
        if elapsed > 0:
            self.seconds[name] = count / elapsed

    def summary(self) -> str:
        parts = [f"{k.removesuffix('_s')} {v:.1f} s" for k, v in self.seconds.items() if not k.endswith("_per_s")]
        if "distill_samples_per_s" in self.seconds:
            parts.append(f"{self.seconds['distill_samples_per_s']:,.0f} training samples/s")
        return "time: " + " · ".join(parts)


def _record(
    ctx: RunContext,
    student,
    progress: dict[str, int],
    losses: dict[str, float],
    teacher_signal: str,
    wall: float,
    clock: _StageClock,
) -> tuple[RunRecord, dict[str, Any] | None]:
    """The run's record, and the teacher's and student's per-example dev predictions (task runs)
    or per-block held-out NLLs (causal-LM runs)."""
    cfg, spec = ctx.cfg, ctx.spec
    teacher_path, student_path = str(ctx.teacher.path), str(ctx.out_dir / "student")
    report: dict[str, Any] = {"agreement": None, "test": None, "predictions": None}
    if spec is not None:
        report = evaluate_pair(
            ctx.teacher_model,
            student,
            cast(GlueDataModule, ctx.datamodule),  # a task run's data
            ctx.tokenizer,
            cfg.eval.latency_runs,
            cfg.eval.latency_warmup,
            test_file=cfg.eval.get("test_file"),
            latency_threads=int(cfg.eval.get("latency_threads", 1)),
        )
        teacher = ModelReport(path=teacher_path, **report["teacher"])
        student_report = ModelReport(path=student_path, **report["student"])
    elif isinstance(ctx.datamodule, LMCorpusDataModule):
        lm = evaluate_lm_pair(
            ctx.teacher_model,
            student,
            ctx.datamodule,
            cast(int, ctx.vocab_columns),  # set by prepare_run for every causal-LM run
            cfg.eval.latency_runs,
            cfg.eval.latency_warmup,
            cfg.eval.generation_new_tokens,
            latency_threads=int(cfg.eval.get("latency_threads", 1)),
        )
        teacher = ModelReport(path=teacher_path, **lm["teacher"])
        student_report = ModelReport(path=student_path, **lm["student"])
        report["agreement"], report["predictions"] = lm["agreement"], lm["predictions"]
    else:
        teacher = ModelReport(path=teacher_path, **parameter_counts(ctx.teacher_model))
        student_report = ModelReport(path=student_path, **parameter_counts(student))
    clock.lap("eval")
    main = spec.main_metric if spec is not None else ("ppl_heldout" if teacher.metrics else None)
    data_cfg = container(cfg.data)
    # The rest of the budget (max_steps, limits, accumulation, devices) is in trainer_options.
    budget: dict[str, Any] = {
        "max_epochs": cfg.trainer.max_epochs,
        "batch_size": data_cfg.get("batch_size"),
        **progress,
    }
    data = {k: v for k, v in data_cfg.items() if k not in _DATA_LOCATION}
    if isinstance(ctx.datamodule, GlueDataModule) and ctx.datamodule.transfer is not None:
        # What the transfer set kept (the leakage filter's count) and what an epoch trained on.
        counts = ctx.datamodule.transfer_counts
        data["transfer_set"] = counts.as_dict() if counts is not None else None
        budget["rows_per_epoch"] = ctx.datamodule.rows_per_epoch()
    record = RunRecord(
        task=spec.name if spec is not None else None,
        corpus=None if spec is not None else (cfg.data.get("path") or cfg.data.get("hub_name")),
        main_metric=main,
        eval_split=spec.dev_name if spec is not None else None,
        method=cfg.method.name,
        method_config=container(cfg.method),
        seed=int(cfg.seed),
        stage=ctx.stage,
        student_init=ctx.student_init,
        student_name=cfg.student.name,
        student_config=container(cfg.student),
        teacher_entry=ctx.teacher.key,
        teacher_source=teacher_description(cfg),  # as the cache key hashes it
        teacher=teacher,
        student=student_report,
        retention=retention(student_report.metrics, teacher.metrics, main) if main else None,
        speedup=_speedup(teacher, student_report),
        compression=teacher.params / student_report.params,
        budget=budget,
        trainer_options=training_options(cfg.trainer),
        final_losses=losses,
        wall_time_s=wall,
        timings=dict(clock.seconds),
        teacher_signal=teacher_signal,
        data=data,
        versions=package_versions(),
        git_commit=git_commit(),
        hardware=hardware(),
        config=container(cfg),
        agreement=report["agreement"],
        test=report["test"],
    )
    return record, report["predictions"]


def _load_student(ctx: RunContext, student_dir: Path) -> PreTrainedModel:
    if ctx.vocab_columns is not None:
        return load_causal_lm(str(student_dir))
    return load_classifier(str(student_dir), ctx.num_labels)


def _reload_teacher(ctx: RunContext) -> PreTrainedModel:
    """The run's teacher as it was before training (a cached fine-tuned entry, or the pre-trained model)."""
    if ctx.teacher.key is not None:
        return load_classifier(str(ctx.teacher.path), ctx.num_labels)
    return pretrained_teacher(ctx.cfg, ctx.num_labels)


def _log_summary(loggers: list, record: RunRecord) -> None:
    """Teacher and student figures in every logger, so a dashboard can compare runs."""
    flat: dict[str, float] = {}
    for role, report in (("teacher", record.teacher), ("student", record.student)):
        for name, value in report.metrics.items():
            flat[f"{role}/{name}"] = value
        for key in ("params", "params_non_embedding", "latency_ms_median"):
            if getattr(report, key) is not None:
                flat[f"{role}/{key}"] = getattr(report, key)
        if report.ece is not None:
            flat[f"{role}/ece"] = report.ece
    for key in ("retention", "speedup", "compression", "agreement"):
        if getattr(record, key) is not None:
            flat[f"summary/{key}"] = getattr(record, key)
    for role in ("teacher", "student"):
        for name, value in ((record.test or {}).get(role) or {}).items():
            flat[f"test/{role}_{name}"] = value
    for logger in loggers:
        logger.log_metrics(flat)
        logger.save()


def _speedup(teacher: ModelReport, student: ModelReport) -> float | None:
    """Teacher over student batch-1 time: generation (tokens/s) for language models, else forward latency."""
    if "batch1" in teacher.generation_tokens_per_s:
        return student.generation_tokens_per_s["batch1"] / teacher.generation_tokens_per_s["batch1"]
    if teacher.latency_ms_median is None or student.latency_ms_median is None:
        return None
    return teacher.latency_ms_median / student.latency_ms_median
