"""Stage ``teacher``: fine-tune the teacher on the task once, cache it, reuse it everywhere.

The cache key hashes everything that determines the fine-tuned weights (teacher
config, task, data subset and tokenisation, fine-tuning hyper-parameters and seed,
trainer numerics), and nothing else: the student, the method and the run seed do not
enter it, so every method and seed of a sweep distils from the same teacher.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import nullcontext
from pathlib import Path

import lightning as L
from filelock import FileLock
from omegaconf import DictConfig, OmegaConf
from transformers import PreTrainedTokenizerBase

from distill_zoo.data import GlueDataModule, TaskSpec
from distill_zoo.models import resolve_pretrained
from distill_zoo.objectives import SupervisedObjective
from distill_zoo.pipeline.builders import build, build_pretrained_teacher, build_trainer
from distill_zoo.training import DistillationModule

#: Data options that change what the teacher learns (root, workers and eval size do not).
_DATA_KEYS = ("task", "source", "max_train_samples", "max_length", "batch_size", "subset_seed")
#: Trainer options that change the numbers.
_TRAINER_KEYS = ("precision", "gradient_clip_val", "accumulate_grad_batches")


def teacher_cache_key(cfg: DictConfig, train_digest: str) -> str:
    """A short hash of everything that determines the fine-tuned teacher.

    ``train_digest`` (:meth:`GlueDataModule.train_digest`) pins the exact training
    examples, so edited data files never reuse a stale teacher.
    """
    description = {
        "train_examples": train_digest,
        "teacher": OmegaConf.to_container(cfg.teacher, resolve=True),
        "data": {k: cfg.data.get(k) for k in _DATA_KEYS},
        "trainer": {k: cfg.trainer.get(k) for k in _TRAINER_KEYS},
    }
    blob = json.dumps(description, sort_keys=True, default=str)
    return f"{cfg.teacher.name}-{cfg.data.task}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def teacher_dir(cfg: DictConfig, train_digest: str) -> Path:
    """Where the fine-tuned teacher lives: the cache, or the model itself when it needs no fine-tuning."""
    if cfg.teacher.get("finetune") is None:
        return Path(resolve_pretrained(cfg.teacher.model.name_or_path))
    return Path(cfg.paths.cache_dir) / "teachers" / teacher_cache_key(cfg, train_digest)


def is_cached(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "metrics.json").is_file()


def ensure_teacher(
    cfg: DictConfig, spec: TaskSpec, datamodule: GlueDataModule, tokenizer: PreTrainedTokenizerBase
) -> Path:
    """The cached fine-tuned teacher's folder; fine-tunes and caches it first if needed.

    Concurrent jobs wait on a file lock instead of training twice. The teacher is
    trained into a temporary folder that is renamed into place only when complete, so
    an interrupted run never leaves a half-written cache entry.
    """
    if cfg.teacher.get("finetune") is None:
        return Path(resolve_pretrained(cfg.teacher.model.name_or_path))  # already trained for the task
    final = teacher_dir(cfg, datamodule.train_digest())
    final.parent.mkdir(parents=True, exist_ok=True)
    rank_zero = int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0
    # Under DDP every rank joins the fine-tuning, but only rank 0 locks and writes.
    with FileLock(str(final) + ".lock") if rank_zero else nullcontext():
        if is_cached(final):
            print(f"[teacher] reusing cached teacher {final.name}")
            return final
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _finetune(cfg, spec, datamodule, tokenizer, tmp)
            if rank_zero:
                tmp.replace(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    _wait_until_cached(final)
    return final


def _wait_until_cached(path: Path, timeout_s: float = 600.0) -> None:
    """Ranks other than 0 wait for rank 0 to move the finished teacher into place."""
    deadline = time.monotonic() + timeout_s
    while not is_cached(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the teacher never appeared in {path}")
        time.sleep(0.5)


def _finetune(
    cfg: DictConfig, spec: TaskSpec, datamodule: GlueDataModule, tokenizer: PreTrainedTokenizerBase, out: Path
) -> None:
    finetune = cfg.teacher.finetune
    L.seed_everything(finetune.seed, workers=True)
    model = build_pretrained_teacher(cfg, spec.num_labels)
    module = DistillationModule(
        student=model,
        objective=SupervisedObjective(),
        metrics=spec.metrics,
        optimizer=build(finetune.optimizer),
        warmup_ratio=finetune.warmup_ratio,
    )
    trainer = build_trainer(cfg, finetune.max_epochs, loggers=False, root_dir=out / "lightning")
    print(f"[teacher] fine-tuning {cfg.teacher.name} on {spec.name} for {finetune.max_epochs} epoch(s)")
    augmented, datamodule.augmented_train = datamodule.augmented_train, False  # original data only
    try:
        trainer.fit(module, datamodule=datamodule)
    finally:
        datamodule.augmented_train = augmented
    metrics = {k.removeprefix("val/"): float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    if trainer.is_global_zero:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        shutil.rmtree(out / "lightning", ignore_errors=True)
    trainer.strategy.barrier()

