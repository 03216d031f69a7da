"""Checkpoints a killed or pre-empted run resumes from, with every random stream in step.

:class:`PeriodicCheckpoint` writes ``last.ckpt`` with ``Trainer.save_checkpoint`` (model,
optimiser, scheduler, loop progress, callback and datamodule state). Two callbacks add
what a bit-exact resume also needs:

* :class:`RandomStreams` saves the global random streams (dropout, masking in the main
  process) and puts them back when training starts again;
* :class:`SaveOnInterrupt` writes ``last.ckpt`` when SIGTERM (cluster pre-emption,
  SLURM's requeue signal) or Ctrl-C stops training; a numerical fault writes nothing,
  so the last good checkpoint stays.

Checkpoints are read with ``weights_only=True``: everything saved here is tensors and
plain Python values.
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from distill_zoo.errors import NumericalError

# Lightning warns that a mid-epoch checkpoint cannot be resumed exactly unless the loader
# is stateful; here the datamodule carries the position (distill_zoo.data.sampling).
warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch ended.*")

#: The file every checkpoint callback of a run keeps up to date (Lightning's ``save_last``).
LAST = "last.ckpt"


def checkpoint_callbacks(
    dirpath: Path, every_n_epochs: int = 1, every_n_minutes: float | None = None, every_n_steps: int | None = None
) -> list[L.Callback]:
    """The callbacks that keep ``dirpath/last.ckpt`` current (see :class:`PeriodicCheckpoint`)
    and make a resume from it exact."""
    path = dirpath / LAST
    return [
        RandomStreams(),
        SaveOnInterrupt(path),
        PeriodicCheckpoint(path, every_n_epochs, every_n_minutes, every_n_steps),
    ]


class PeriodicCheckpoint(L.Callback):
    """Write ``path`` (one file, replaced each time) after every ``every_n_epochs`` epochs (0:
    never), every ``every_n_minutes`` of training and every ``every_n_steps`` optimiser steps
    (None: never), with ``Trainer.save_checkpoint``.

    Lightning's ``ModelCheckpoint`` takes one trigger per instance, and several instances
    with ``save_last`` write ``last.ckpt``, ``last-v1.ckpt``, ...: a run would hold several
    files and a resume would have to pick the newest. One callback with every trigger
    keeps a single file. The time trigger is rank 0's clock, broadcast, so every DDP rank
    saves at the same step.
    """

    def __init__(
        self,
        path: Path,
        every_n_epochs: int = 1,
        every_n_minutes: float | None = None,
        every_n_steps: int | None = None,
    ) -> None:
        for name, value in (
            ("every_n_epochs", every_n_epochs),
            ("every_n_minutes", every_n_minutes),
            ("every_n_steps", every_n_steps),
        ):
            if value is not None and value < 0:
                raise ValueError(f"checkpoint.{name} must be >= 0 or null, got {value}")
        self.path, self.every_n_epochs = path, every_n_epochs
        self.every_n_minutes, self.every_n_steps = every_n_minutes, every_n_steps
        self._last_save = time.monotonic()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_save = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        due = bool(self.every_n_steps and step % int(self.every_n_steps) == 0)
        if self.every_n_minutes:
            late = time.monotonic() - self._last_save >= 60 * self.every_n_minutes
            due = due or bool(trainer.strategy.broadcast(late))
        if due:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._save(trainer)

    def _save(self, trainer: L.Trainer) -> None:
        save_if_finite(trainer, self.path)
        self._last_save = time.monotonic()


def save_if_finite(trainer: L.Trainer, path: Path) -> None:
    """``trainer.save_checkpoint(path)``, unless an update has made a trainable weight NaN or
    infinite (the loss of that step was still finite): then raise, keeping the last good file."""
    module = trainer.lightning_module
    bad = [name for name, p in module.named_parameters() if p.requires_grad and not bool(torch.isfinite(p).all())]
    if bad:
        raise NumericalError(
            f"the weights became non-finite at step {trainer.global_step} ({bad[0]}"
            f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}); the run stopped and wrote no results, "
            f"and {path} keeps the last good state if there is one. Lower the learning rate (optimizer.lr, "
            "teacher.finetune.optimizer.lr)"
        )
    trainer.save_checkpoint(path, weights_only=False)  # the full state: a resume needs the optimiser


def fit_resuming(trainer: L.Trainer, module: L.LightningModule, datamodule: Any, checkpoints: Path, what: str) -> None:
    """``trainer.fit``, continuing from ``checkpoints/last.ckpt`` when an earlier attempt left one.

    Whoever calls it has made sure that attempt ran the same config (a run folder is
    claimed for one config; a teacher's checkpoints sit beside its cache entry, whose key
    hashes everything that shapes it).
    """
    resume = latest_checkpoint(checkpoints)
    if resume is not None:
        print(f"[{what}] resuming from {resume}, step {checkpoint_step(resume)}")
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)


def latest_checkpoint(dirpath: Path) -> Path | None:
    path = dirpath / LAST
    return path if path.is_file() else None


def checkpoint_step(path: Path) -> int:
    """The optimiser step a checkpoint was written at."""
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


class RandomStreams(L.Callback):
    """Save the global random streams with each checkpoint; restore them when training resumes.

    They are put back in ``on_train_start``, after Lightning has restored everything else
    and before the first batch is drawn, so the resumed run's dropout masks are those the
    uninterrupted run would have drawn. (Data order and the loaders' worker seeds come from
    generators of their own, see :mod:`distill_zoo.data.sampling`.)
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss, cached],
            "python": random.getstate(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        state, self._pending = self._pending, None
        if not state:
            return
        torch.set_rng_state(state["torch"])
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        random.setstate(_as_tuples(state["python"]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value: Any) -> Any:
    """``random.setstate`` wants the nested tuples ``getstate`` gave (a round trip may make lists)."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


class SaveOnInterrupt(L.Callback):
    """Write ``path`` when SIGTERM or Ctrl-C stops training (Lightning raises
    ``SIGTERMException`` at the end of the batch in progress, so the state is a batch end)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, (SIGTERMException, KeyboardInterrupt)) or not trainer.training:
            return
        save_if_finite(trainer, self.path)
        if trainer.is_global_zero:
            print(
                f"[checkpoint] stopped at step {trainer.global_step}; saved {self.path}; "
                "rerun the same command to resume"
            )
