"""The one results record every run writes: task runs, corpus runs and chain stages alike.

``results.json`` is a :class:`RunRecord` serialised with :func:`dataclasses.asdict`.
It says exactly what produced the numbers (teacher cache entry, student init, budget,
stage of which pipeline, package versions, git commit), so that a summary can refuse
to merge runs that differ in anything but the seed, and say which code and machine made each.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

#: Bump when a field changes meaning; readers refuse records of another version.
RECORD_VERSION = 4
#: Older versions this one still reads; what they lack gets a value that matches no newer run.
READABLE_VERSIONS = (3, RECORD_VERSION)
#: What a version-3 record (written before it was recorded) says of the teacher signal.
UNRECORDED = "unrecorded"

#: Per-example dev labels and teacher/student predictions, written next to ``results.json``
#: by task runs (what the report's paired bootstrap resamples).
PREDICTIONS = "predictions.json"

#: What a failed job of a multirun writes in its folder instead of ``results.json``: the
#: error, its type, the exit code it would have had, the job's overrides.
FAILED = "failed.json"

_PACKAGES = ("distill_zoo", "torch", "lightning", "transformers", "hydra-core", "torchmetrics", "datasets")


@dataclass
class StageInfo:
    """Where a run sits in a pipeline: a single run is stage 0 of 1 of pipeline ``single``."""

    pipeline: str = "single"
    name: str = "run"
    index: int = 0
    count: int = 1

    @property
    def final(self) -> bool:
        """Whether this stage's student is the product of its pipeline (the one to compare)."""
        return self.index == self.count - 1


@dataclass
class ModelReport:
    """Dev metrics (empty for corpus runs), size and batch-1 CPU latency of one model."""

    path: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: int = 0
    params_non_embedding: int = 0
    latency_ms_median: float | None = None
    latency_ms_p90: float | None = None
    #: Causal LMs: new tokens per second of greedy CPU decoding, by batch (``batch1``, ``batch8``).
    generation_tokens_per_s: dict[str, float] = field(default_factory=dict)
    latency_threads: int | None = None
    #: p90 / median of the latency timings, and whether they were too spread or drifted to
    #: quote (:mod:`distill_zoo.pipeline.latency`); None in records made before it was measured.
    latency_spread: float | None = None
    latency_unstable: bool | None = None
    #: Expected calibration error on dev (15 equal-width confidence bins); None for regression.
    ece: float | None = None


#: What a run's budget came to, not what it was set to: left out of :meth:`RunRecord.comparable`.
#: ``rows_per_epoch`` follows from the data options and the method (``none`` cycles its
#: labelled rows past a transfer set it does not read), both compared already.
BUDGET_OUTCOMES = ("steps_done", "examples_seen", "rows_per_epoch")


@dataclass
class RunRecord:
    """What one run (or chain stage) produced and exactly what produced it.

    Attributes:
        task: the GLUE task, or None for a corpus (general) run.
        corpus: the corpus path or Hub name for a corpus run, else None.
        eval_split: the split the metrics come from (``dev``; ``dev_matched`` for MNLI).
        method / method_config: the method option and its resolved config.
        seed: the run seed (student init, data order, dropout).
        stage: which stage of which pipeline.
        student_init: ``pretrained`` | ``finetuned`` (teacher layers), ``random``, ``checkpoint``.
        student_name / student_config: the student option and its resolved config.
        teacher_entry: the teacher cache key (None when the teacher is used as it is).
        teacher_source: the teacher option's resolved config.
        budget: epochs, batch size, optimiser steps done, examples seen (the trainer's
            step limits, accumulation and devices are in ``trainer_options``).
        trainer_options: the trainer options that can change a trained model, canonical
            (Lightning defaults dropped), as in the teacher cache key.
        agreement: on dev, the share of examples where the student predicts the teacher's
            class (regression: the Pearson correlation of their predictions).
        test: metrics on an extra labelled file (``eval.test_file``), reported apart from
            dev and never used for selection: ``{"file", "teacher": {...}, "student": {...}}``.
        teacher_signal: where the distillation read the teacher from: ``live`` (a forward
            pass per batch), ``cache: <arrays>`` (the teacher-output cache, equal to the live
            teacher up to float rounding, ~1e-5), or ``none`` (the objective reads no teacher). Part of
            :meth:`comparable`, so seeds that read the teacher differently are never merged.
        timings: wall seconds of each stage (``prepare_s``, ``teacher_s``, ``distill_s``,
            ``eval_s``) and ``distill_samples_per_s`` (training examples per second of the
            distill stage, caching the teacher's outputs included). A resumed run's
            ``distill_s`` and ``wall_time_s`` add the training seconds of its earlier
            processes up to the checkpoint it resumed from.
        comparable: everything but the seed and the provenance (``versions``, ``git_commit``,
            ``hardware``) that must match for two runs to be merged.
    """

    task: str | None
    corpus: str | None
    main_metric: str | None
    eval_split: str | None
    method: str
    method_config: dict[str, Any]
    seed: int
    stage: StageInfo
    student_init: str
    student_name: str
    student_config: dict[str, Any]
    teacher_entry: str | None
    teacher_source: dict[str, Any]
    teacher: ModelReport
    student: ModelReport
    retention: float | None
    speedup: float | None
    compression: float | None
    budget: dict[str, Any]
    trainer_options: dict[str, Any]
    final_losses: dict[str, float]
    wall_time_s: float
    data: dict[str, Any]
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    hardware: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    agreement: float | None = None
    test: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    teacher_signal: str = UNRECORDED
    record_version: int = RECORD_VERSION

    def comparable(self) -> dict[str, Any]:
        """The fields two runs must share to be seeds of one comparison row.

        A model handed on by an earlier chain stage (``previous``) lives in that seed's
        own folder: its path is left out, the stage it came from is in ``stage``.

        Provenance (``git_commit``, ``versions``, ``hardware``) is left out on purpose: seeds
        of one configuration run at another commit, with another library release or on
        another machine still measure that configuration, and splitting them would leave
        rows of one or two seeds labelled by a commit hash. The report merges them and
        names the difference in a note, or refuses with ``--strict``
        (``distill_zoo.report.provenance``).
        """
        config = dict(self.config)
        return {
            "task": self.task,
            "corpus": self.corpus,
            "method": self.method,
            "method_config": self.method_config,
            "stage": {"pipeline": self.stage.pipeline, "name": self.stage.name, "index": self.stage.index},
            "student_init": self.student_init,
            "student": _without_previous_path(self.student_config),
            "teacher_entry": self.teacher_entry,
            "teacher_source": _without_previous_path(self.teacher_source),
            "teacher_signal": self.teacher_signal,
            "budget": {k: v for k, v in self.budget.items() if k not in BUDGET_OUTCOMES},
            "trainer_options": self.trainer_options,
            "data": self.data,
            "optimizer": config.get("optimizer"),
            "warmup_ratio": config.get("warmup_ratio"),
            "callbacks": config.get("callbacks"),
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> RunRecord:
        version = payload.get("record_version")
        if version not in READABLE_VERSIONS:
            raise ValueError(
                f"results record version {version!r}, this distill_zoo reads versions {list(READABLE_VERSIONS)}; "
                "re-run the job (or read it with the version that wrote it)"
            )
        data = dict(payload)
        data["stage"] = StageInfo(**data["stage"])
        data["teacher"] = ModelReport(**data["teacher"])
        data["student"] = ModelReport(**data["student"])
        return cls(**data)


def differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """``key: a vs b`` for every (nested) key where two mappings differ."""
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out += differences(x, y, f"{prefix}{key}.")
        elif x != y:
            out.append(f"{prefix}{key}: {x!r} vs {y!r}")
    return out


def _without_previous_path(group: dict[str, Any]) -> dict[str, Any]:
    if group.get("name") != "previous":
        return group
    model = {k: v for k, v in (group.get("model") or {}).items() if k != "name_or_path"}
    return {k: v for k, v in group.items() if k != "tokenizer"} | {"model": model}


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a crash never leaves a truncated file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    tmp.replace(path)


def write_record(path: Path, record: RunRecord) -> None:
    """Write ``record``, credentials redacted (see :mod:`distill_zoo.pipeline.secrets`)."""
    from distill_zoo.pipeline.secrets import redact

    write_json(path, redact(record.to_json()))


def read_record(path: Path) -> RunRecord:
    return RunRecord.from_json(json.loads(Path(path).read_text()))


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    """The commit of the distill_zoo code this process runs: read once, when the package
    is first imported (a sweep's later jobs run that code, whatever is committed since),
    with ``+dirty`` when the checkout had local changes."""
    return _LOADED_COMMIT


def _read_git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def hardware() -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return f"{platform.machine()} {os.cpu_count()} cores, {device}, torch threads {torch.get_num_threads()}"


_LOADED_COMMIT = _read_git_commit()
