"""Stage ``teacher``: fine-tune the teacher on the task once, cache it, reuse it everywhere.

A cache entry is keyed by a hash of everything that can change the fine-tuned weights:
the teacher config (model, fine-tuning hyper-parameters, its own seed), the exact
training examples, every data option that changes what a batch holds (tokenisation,
``max_length``, batch size, subset), and every trainer option except the few listed in
:data:`TRAINER_NEUTRAL` that only change logging or validation. The student, the
method and the run seed do not enter it, so every method and seed of a sweep distils
from the same teacher, and a teacher trained with ``trainer=debug`` (a few batches)
is never reused by a run that did not ask for the same limits.

Each entry holds the model, its tokenizer and ``entry.json``: the key, what was
hashed (resolved), and the teacher's dev metrics.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from distill_zoo.data import GlueDataModule, TaskSpec
from distill_zoo.errors import StateError
from distill_zoo.locks import MISSING, lock_unless_complete
from distill_zoo.models import load_classifier, resolve_pretrained
from distill_zoo.objectives import SupervisedObjective
from distill_zoo.pipeline.builders import build, build_trainer, container
from distill_zoo.pipeline.record import write_json
from distill_zoo.pipeline.teacher_entry import (
    ENTRY,
    entry_damage,
    file_digests,
    read_entry_json,
    record_digests,
    set_aside,
)
from distill_zoo.training import DistillationModule
from distill_zoo.training.checkpoints import fit_resuming

#: Trainer options that cannot change the fine-tuned weights (logging, validation, the
#: per-run folder); every other trainer option is part of the key. ``max_epochs`` and
#: ``max_steps`` are neutral because the teacher trains for ``teacher.finetune.max_epochs``
#: (and ``teacher.finetune.max_steps``), not for the student's budget.
TRAINER_NEUTRAL = frozenset(
    {
        "_target_",
        "max_epochs",
        "max_steps",
        "log_every_n_steps",
        "enable_checkpointing",
        "enable_model_summary",
        "enable_progress_bar",
        "num_sanity_val_steps",
        "limit_val_batches",
        "val_check_interval",
        "check_val_every_n_epoch",
        "default_root_dir",
        "logger",
        "callbacks",
        "plugins",
    }
)
#: Data options that cannot change the teacher: where files are, loader workers, the
#: evaluation split, the run seed (the teacher has its own), the augmentation of the
#: *student's* data and its transfer set, and the student's subset (the teacher always trains on the original
#: examples of its own subset, ``teacher.finetune.max_train_samples``, pinned by their digest).
DATA_NEUTRAL = frozenset(
    {
        "_target_",
        "root",
        "source",
        "num_workers",
        "eval_batch_size",
        "max_eval_samples",
        "cache_dir",
        "augment",
        "transfer",
        "seed",
        "max_train_samples",
        "subset_seed",
    }
)


@dataclass
class TeacherEntry:
    """The teacher a run distils from.

    Attributes:
        path: the folder of the fine-tuned (or as-is) teacher.
        key: the cache key, or None when the teacher is used as it is (``finetune: null``).
        metrics: its dev metrics, as measured when the entry was made ({} when used as is).
        description: what the key hashes (resolved).
    """

    path: Path
    key: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    description: dict[str, Any] = field(default_factory=dict)


def training_options(trainer_cfg: DictConfig) -> dict[str, Any]:
    """The trainer options that can change trained weights, in a canonical form: options
    left at Lightning's own default are dropped (so ``max_steps: -1`` spelled out or left
    out give the same key); ``accelerator`` and ``devices`` are resolved (``auto`` on a
    4-GPU machine is 4 devices, a 4× larger effective batch than on one)."""
    trainer = container(trainer_cfg)
    defaults = {k: p.default for k, p in inspect.signature(L.Trainer.__init__).parameters.items()}
    if trainer.get("accelerator", "auto") == "auto":
        trainer["accelerator"] = "cuda" if torch.cuda.is_available() else "cpu"
    if trainer.get("devices", "auto") in ("auto", -1, "-1"):  # the device count sets the effective batch
        trainer["devices"] = torch.cuda.device_count() if trainer["accelerator"] in ("cuda", "gpu") else 1
    resolved = ("accelerator", "devices")
    return {
        k: v
        for k, v in sorted(trainer.items())
        if k not in TRAINER_NEUTRAL and not (k in defaults and defaults[k] == v and k not in resolved)
    }


def cache_description(cfg: DictConfig, train_digest: str) -> dict[str, Any]:
    """Everything that determines the fine-tuned teacher (the input of the cache key)."""
    data = container(cfg.data)
    return {
        "train_examples": train_digest,
        "teacher": teacher_description(cfg),
        "data": {k: v for k, v in sorted(data.items()) if k not in DATA_NEUTRAL},
        "trainer": training_options(cfg.trainer),
    }


def teacher_description(cfg: DictConfig) -> dict[str, Any]:
    """``cfg.teacher`` resolved, in the canonical form the cache key hashes and records quote:
    ``finetune.max_steps: null`` (no step limit) spelled out or left out is one teacher."""
    teacher = container(cfg.teacher)
    finetune = teacher.get("finetune")
    if isinstance(finetune, dict) and finetune.get("max_steps") is None:
        finetune.pop("max_steps", None)
    return teacher


def teacher_cache_key(cfg: DictConfig, train_digest: str) -> str:
    """``<teacher>-<task>-<hash>`` of :func:`cache_description`."""
    blob = json.dumps(cache_description(cfg, train_digest), sort_keys=True, default=str)
    return f"{cfg.teacher.name}-{cfg.data.task}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def teacher_dir(cfg: DictConfig, train_digest: str) -> Path:
    """Where the fine-tuned teacher lives: the cache, or the model itself when it needs no fine-tuning."""
    if cfg.teacher.get("finetune") is None:
        source = cfg.teacher.model.get("name_or_path")
        return Path(resolve_pretrained(source)) if source else Path(f"<{cfg.teacher.name}: built from its config>")
    return Path(cfg.paths.cache_dir) / "teachers" / teacher_cache_key(cfg, train_digest)


def is_cached(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "entry.json").is_file()


def read_entry(path: Path) -> TeacherEntry:
    entry = read_entry_json(path)
    return TeacherEntry(path, entry["key"], entry["metrics"], entry["description"])


def resolve_teacher(cfg: DictConfig, train_digest: str) -> TeacherEntry:
    """The entry a run will use (it may not exist yet; :func:`ensure_teacher` makes it)."""
    path = teacher_dir(cfg, train_digest)
    if cfg.teacher.get("finetune") is None:
        return TeacherEntry(path, None, {}, {"teacher": OmegaConf.to_container(cfg.teacher, resolve=True)})
    found = read_entry_or_none(path) if is_cached(path) else None
    return found if found is not None else TeacherEntry(path, path.name, {}, cache_description(cfg, train_digest))


def read_entry_or_none(path: Path) -> TeacherEntry | None:
    """The entry, or None when its ``entry.json`` does not parse (the teacher stage rebuilds it)."""
    try:
        return read_entry(path)
    except StateError:
        return None


def ensure_teacher(
    cfg: DictConfig,
    entry: TeacherEntry,
    spec: TaskSpec,
    datamodule: GlueDataModule,
    tokenizer: PreTrainedTokenizerBase,
    pretrained: PreTrainedModel,
) -> tuple[TeacherEntry, PreTrainedModel]:
    """The fine-tuned teacher and its cache entry; fine-tunes ``pretrained`` first if needed.

    Concurrent jobs wait on a file lock instead of training twice. The teacher is
    trained into a temporary folder that is renamed into place only when complete, so
    an interrupted run never leaves a half-written entry. ``pretrained`` is only
    trained when no entry exists (a copy is trained, the original is left untouched).
    """
    final = entry.path
    final.parent.mkdir(parents=True, exist_ok=True)
    rank_zero = int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0

    # Under DDP every rank joins the fine-tuning, but only rank 0 locks and writes.
    def problem() -> str | None:
        return entry_damage(final) if is_cached(final) else MISSING

    with lock_unless_complete(final, problem) if rank_zero else nullcontext(problem()) as found:
        if found is None:
            print(f"[teacher] reusing cached teacher {final.name}")
            record_digests(final)
            return read_entry(final), load_classifier(str(final), spec.num_labels)
        if found != MISSING and rank_zero:
            set_aside(final, found)
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        checkpoints = final.parent / f".{final.name}.checkpoints"
        # Under the lock no one else writes this entry: a temporary folder left by a killed
        # process is debris (its checkpoints, kept beside, are what a resume reads).
        for stale in final.parent.glob(f".{final.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        try:
            model, metrics = _finetune(cfg, spec, datamodule, pretrained, tmp, checkpoints)
            if rank_zero:
                tokenizer.save_pretrained(tmp)
                made = TeacherEntry(final, entry.key, metrics, entry.description)
                write_json(  # last: its digests cover every other file
                    tmp / ENTRY,
                    {
                        "key": made.key,
                        "metrics": metrics,
                        "description": made.description,
                        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                        "files": file_digests(tmp),
                    },
                )
                if final.exists():  # an incomplete entry (a file deleted by hand): replaced, kept aside
                    set_aside(final, "it is incomplete")
                tmp.replace(final)
                shutil.rmtree(checkpoints, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    _wait_until_cached(final)
    return read_entry(final), model


def _wait_until_cached(path: Path, timeout_s: float = 600.0) -> None:
    """Ranks other than 0 wait for rank 0 to move the finished teacher into place."""
    deadline = time.monotonic() + timeout_s
    while not is_cached(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the teacher never appeared in {path}")
        time.sleep(0.5)


def _finetune(
    cfg: DictConfig,
    spec: TaskSpec,
    datamodule: GlueDataModule,
    pretrained: PreTrainedModel,
    out: Path,
    checkpoints: Path,
) -> tuple[PreTrainedModel, dict[str, float]]:
    """Fine-tune a copy of ``pretrained`` into ``out``, checkpointing into ``checkpoints`` (kept
    beside the cache entry, so a killed fine-tune resumes; removed once the entry exists)."""
    finetune = cfg.teacher.finetune
    L.seed_everything(finetune.seed, workers=True)
    model = copy.deepcopy(pretrained)
    module = DistillationModule(
        student=model,
        objective=SupervisedObjective(),
        metrics=spec.metrics,
        optimizer=build(finetune.optimizer),
        warmup_ratio=finetune.warmup_ratio,
    )
    trainer = build_trainer(
        cfg,
        finetune.max_epochs,
        loggers=False,
        root_dir=out / "lightning",
        checkpoint_dir=checkpoints,
        max_steps=finetune.get("max_steps") or -1,  # its own budget, never the student's trainer.max_steps
    )
    print(f"[teacher] fine-tuning {cfg.teacher.name} on {spec.name} for {finetune.max_epochs} epoch(s)")
    datamodule.train_seed = finetune.seed
    with datamodule.original_train():  # the teacher learns from the original examples only
        fit_resuming(trainer, module, datamodule, checkpoints, "teacher", damaged="set_aside")
    metrics = {k.removeprefix("val/"): float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    if trainer.is_global_zero:
        model.save_pretrained(out)
        shutil.rmtree(out / "lightning", ignore_errors=True)
    trainer.strategy.barrier()
    return model.eval(), metrics
