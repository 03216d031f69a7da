"""Turn the composed Hydra config into objects: one place for every ``instantiate`` call."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from distill_zoo.data import GlueDataModule
from distill_zoo.errors import ConfigError, DistillZooError
from distill_zoo.models import load_tokenizer
from distill_zoo.objectives import Objective
from distill_zoo.pipeline.record import git_commit
from distill_zoo.pipeline.secrets import redact
from distill_zoo.training.checkpoint_io import AtomicCheckpointIO
from distill_zoo.training.checkpoints import ResumeGuard, checkpoint_callbacks


class _NoTips(logging.Filter):
    """Lightning's tips advertising its cloud products are not something a run's user needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "💡 Tip" not in record.getMessage()


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoTips())

#: Keys of a group's config that describe it rather than construct it.
DESCRIPTIVE_KEYS = ("name", "init")


def container(node: DictConfig) -> dict[str, Any]:
    """``OmegaConf.to_container(node, resolve=True)`` of a mapping node, typed as the dict it is."""
    resolved = OmegaConf.to_container(node, resolve=True)
    if not isinstance(resolved, dict):
        raise TypeError(f"expected a mapping config node, got {type(resolved).__name__}")
    return cast(dict[str, Any], resolved)


def build(node: DictConfig, drop: tuple[str, ...] = DESCRIPTIVE_KEYS, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` without the ``drop`` keys; our own errors come out unwrapped."""
    resolved = container(node)
    config = {k: v for k, v in resolved.items() if k not in drop}
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, DistillZooError):
            raise cause from None
        raise ConfigError(f"could not build {node.get('_target_', 'an object')}: {err}") from err


def build_tokenizer(cfg: DictConfig) -> PreTrainedTokenizerBase:
    """The teacher's tokenizer, shared by the student."""
    model = cfg.teacher.get("model") or {}
    # A GGUF file holds its tokenizer: read it from there when the tokenizer is the model's.
    same_source = model.get("name_or_path") == cfg.teacher.tokenizer
    return load_tokenizer(cfg.teacher.tokenizer, gguf_file=model.get("gguf_file") if same_source else None)


def build_datamodule(cfg: DictConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> GlueDataModule:
    datamodule = build(cfg.data)
    if tokenizer is not None:
        datamodule.set_tokenizer(tokenizer)
    return datamodule


def build_objective(cfg: DictConfig) -> Objective:
    return build(cfg.method)


def build_pretrained_teacher(cfg: DictConfig, num_labels: int) -> PreTrainedModel:
    """The teacher before fine-tuning (pretrained weights, fresh head)."""
    return build(cfg.teacher.model)(num_labels=num_labels)


def build_student(cfg: DictConfig, source: PreTrainedModel, num_labels: int) -> PreTrainedModel:
    """The student of ``cfg.student``; ``source`` is the teacher whose layers or config it starts from."""
    return build(cfg.student.model)(teacher=source, num_labels=num_labels)


def build_loggers(cfg: DictConfig, save_dir: Path) -> list[Logger]:
    """The loggers of ``cfg.logger`` (a mapping name -> logger config), writing under ``save_dir``,
    each given the resolved config. A W&B ``group: auto`` is the sweep folder in a multirun
    (every job of one sweep in one group) and ``cfg.group`` otherwise."""
    loggers = []
    for node in (cfg.get("logger") or {}).values():
        if node is None:
            continue
        extra: dict[str, Any] = {"save_dir": str(save_dir)}
        if node.get("group") == "auto":
            extra["group"] = sweep_name() or cfg.get("group")
        loggers.append(build(node, drop=("group",) if "group" in extra else (), **extra))
    config = redact(OmegaConf.to_container(cfg, resolve=True))
    for logger in loggers:
        logger.log_hyperparams(config)
    return loggers


def sweep_name() -> str | None:
    """The sweep folder of the current Hydra multirun job (e.g. ``multirun/compare_methods/sst2/<time>``),
    or None outside a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return str(HydraConfig.get().sweep.dir)


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    """The callbacks of the ``callbacks`` group (a mapping name -> callback config), which a
    method selects in its defaults (MobileBERT's progressive schedule, MiniLM's fine-tuning phase)."""
    return [build(node, drop=()) for node in (cfg.get("callbacks") or {}).values() if node is not None]


def build_trainer(
    cfg: DictConfig,
    max_epochs: int,
    loggers: list[Logger] | bool,
    root_dir: Path,
    callbacks: list[L.Callback] | None = None,
    checkpoint_dir: Path | None = None,
    max_steps: int | None = None,
) -> L.Trainer:
    """A Lightning Trainer from ``cfg.trainer`` (which the ``strategy`` group fills in), writing
    ``checkpoint_dir/last.ckpt`` as ``cfg.checkpoint`` says (None: no checkpoints); ``max_steps``
    replaces ``cfg.trainer.max_steps`` (the teacher's fine-tune has a budget of its own)."""
    options = cfg.get("checkpoint") or {}
    callbacks = list(callbacks or [])
    if checkpoint_dir is not None and options.get("enabled", True):
        callbacks += checkpoint_callbacks(
            checkpoint_dir,
            int(options.get("every_n_epochs", 1)),
            options.get("every_n_minutes"),
            options.get("every_n_steps"),
            ResumeGuard(code=git_commit(), accept_mismatch=cfg.get("resume_mismatch") == "accept"),
        )
    budget: dict[str, Any] = {} if max_steps is None else {"max_steps": max_steps}
    return build(
        cfg.trainer,
        max_epochs=max_epochs,
        **budget,
        logger=loggers,
        default_root_dir=str(root_dir),
        callbacks=callbacks,
        # Our own PeriodicCheckpoint writes the checkpoints; Lightning's default ModelCheckpoint would add more files.
        enable_checkpointing=False,
        # Written in their own folder and moved into place: never a truncated last.ckpt.
        plugins=[AtomicCheckpointIO()],
    )
