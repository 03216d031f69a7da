"""Checkpoints a killed or pre-empted run resumes from, with every random stream in step.

:class:`PeriodicCheckpoint` writes ``last.ckpt`` with ``Trainer.save_checkpoint`` (model,
optimiser, scheduler, loop progress, callback and datamodule state). Two callbacks add
what a bit-exact resume also needs:

* :class:`RandomStreams` saves the global random streams (dropout, masking in the main
  process) and puts them back when training starts again;
* Lightning's :class:`~lightning.pytorch.callbacks.Timer` saves the training seconds so
  far, so a resumed run's time and throughput cover its earlier processes too
  (:func:`earlier_training_seconds`);
* :class:`SaveOnInterrupt` writes ``last.ckpt`` when SIGTERM (cluster pre-emption,
  SLURM's requeue signal) or Ctrl-C stops training; a numerical fault writes nothing,
  so the last good checkpoint stays.

Every checkpoint is written at an optimiser-step boundary: after a batch whose end
stepped the optimiser. Between two steps of ``accumulate_grad_batches > 1`` the
accumulated gradient lives only in ``.grad``, which no checkpoint holds, and a batch
cut short has drawn dropout masks it never applied; a resume from either state would
drift from the uninterrupted run.

Checkpoints are read with ``weights_only=True``: everything saved here is tensors and
plain Python values. They are written by :class:`~distill_zoo.training.checkpoint_io.AtomicCheckpointIO`
(the trainer's checkpoint plugin), so ``last.ckpt`` is always a whole file or the previous one.
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.utilities.exceptions import SIGTERMException

from distill_zoo.data.sampling import TrainingPosition
from distill_zoo.errors import NumericalError, StateError
from distill_zoo.training.checkpoint_io import DamagedCheckpoint, load_checkpoint_file, remove_stale_temporaries

# Lightning warns that a mid-epoch checkpoint cannot be resumed exactly unless the loader
# is stateful; here the datamodule carries the position (distill_zoo.data.sampling).
warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch ended.*")

#: The file every checkpoint callback of a run keeps up to date (Lightning's ``save_last``).
LAST = "last.ckpt"
#: The checkpoint key :class:`ResumeGuard` writes.
FINGERPRINT = "distill_zoo_fingerprint"


def checkpoint_callbacks(
    dirpath: Path,
    every_n_epochs: int = 1,
    every_n_minutes: float | None = None,
    every_n_steps: int | None = None,
    guard: ResumeGuard | None = None,
) -> list[L.Callback]:
    """The callbacks that keep ``dirpath/last.ckpt`` current (see :class:`PeriodicCheckpoint`)
    and make a resume from it exact; ``guard`` (default: data checked, no code commit) refuses
    a checkpoint trained on other inputs."""
    path = dirpath / LAST
    return [
        guard if guard is not None else ResumeGuard(code=None),
        RandomStreams(),
        Timer(),
        SaveOnInterrupt(path),
        PeriodicCheckpoint(path, every_n_epochs, every_n_minutes, every_n_steps),
    ]


class ResumeGuard(L.Callback):
    """Write into every checkpoint what it was trained on, and refuse to resume from one that
    was trained on something else.

    ``fingerprint`` in a checkpoint holds ``train_tokens`` (the digest of the training rows
    the datamodule serves, exactly as the models see them) and ``code`` (the commit the
    process ran, ``+dirty`` when the tree had changes). A resume whose values differ would
    mix two runs in one result: it stops with a :class:`~distill_zoo.errors.StateError` that
    names the differences, unless ``accept_mismatch`` (``resume_mismatch=accept``) takes it
    knowingly, which is printed and kept in ``accepted``. A checkpoint without the record
    (written before it existed) is refused the same way.
    """

    def __init__(self, code: str | None, accept_mismatch: bool = False) -> None:
        self.code, self.accept_mismatch = code, accept_mismatch
        self.accepted: list[str] = []
        self._train_tokens: str | None = None

    def fingerprint(self, trainer: L.Trainer) -> dict[str, str | None]:
        if self._train_tokens is None:
            datamodule = getattr(trainer, "datamodule", None)
            if not isinstance(datamodule, TrainingPosition):
                raise TypeError(f"a resumable run needs a TrainingPosition datamodule, got {type(datamodule).__name__}")
            self._train_tokens = datamodule.train_tokens_digest()[0]
        return {"train_tokens": self._train_tokens, "code": self.code}

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[FINGERPRINT] = self.fingerprint(trainer)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        saved, now = checkpoint.get(FINGERPRINT) or {}, self.fingerprint(trainer)
        changed = [
            f"{name}: {_short(saved.get(name, 'not recorded'))} in the checkpoint, {_short(value)} now"
            for name, value in now.items()
            if saved.get(name, "not recorded") != value
        ]
        if not changed:
            return
        what = "; ".join(changed)
        if self.accept_mismatch:
            self.accepted = changed
            print(
                f"[resume] resuming although the checkpoint was written for other inputs ({what}): "
                "resume_mismatch=accept"
            )
            return
        raise StateError(
            f"the checkpoint of this run was written for other inputs ({what}); resuming would train one run on two. "
            "Give this run its own folder (hydra.run.dir=...) to start it over, or set resume_mismatch=accept to "
            "continue it knowingly (the record says so)"
        )


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] if len(text) == 64 else text


def earlier_training_seconds(trainer: L.Trainer) -> float:
    """Training seconds the earlier processes of a resumed run spent up to the checkpoint this
    process resumed from (0 for a run that did not resume, or without checkpoints).

    The time those processes trained after that checkpoint is lost with their work (this
    process trained those batches again) and is not counted.
    """
    callbacks: list[L.Callback] = getattr(trainer, "callbacks", [])  # set at run time, not typed
    timer = next((c for c in callbacks if isinstance(c, Timer)), None)
    if timer is None:
        return 0.0
    start, end = timer.start_time(), timer.end_time()
    own = 0.0 if start is None else (time.monotonic() if end is None else end) - start
    return max(timer.time_elapsed() - own, 0.0)


class StepBoundary(L.Callback):
    """Knows whether training stands at an optimiser-step boundary (``at_boundary``): before the
    first batch, or after a batch whose end stepped the optimiser (``global_step`` moved)."""

    def __init__(self) -> None:
        self.at_boundary = True
        self._step_before = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.at_boundary = True

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self._step_before, self.at_boundary = trainer.global_step, False

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self.at_boundary = trainer.global_step != self._step_before


class PeriodicCheckpoint(StepBoundary):
    """Write ``path`` (one file, replaced each time) after every ``every_n_epochs`` epochs (0:
    never), every ``every_n_minutes`` of training and every ``every_n_steps`` optimiser steps
    (None: never), with ``Trainer.save_checkpoint``.

    Lightning's ``ModelCheckpoint`` takes one trigger per instance, and several instances
    with ``save_last`` write ``last.ckpt``, ``last-v1.ckpt``, ...: a run would hold several
    files and a resume would have to pick the newest. One callback with every trigger
    keeps a single file. The time trigger is rank 0's clock, broadcast, so every DDP rank
    saves at the same step. With gradient accumulation a trigger that falls between two
    optimiser steps (the clock) waits for the next step.
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
        super().__init__()
        self.path, self.every_n_epochs = path, every_n_epochs
        self.every_n_minutes, self.every_n_steps = every_n_minutes, every_n_steps
        self._last_save = time.monotonic()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._last_save = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        super().on_train_batch_end(trainer, pl_module, *args)
        if not self.at_boundary:  # the same on every rank: they step together
            return
        step = trainer.global_step
        due = bool(self.every_n_steps and step % int(self.every_n_steps) == 0)
        if self.every_n_minutes:
            late = time.monotonic() - self._last_save >= 60 * self.every_n_minutes
            due = due or bool(trainer.strategy.broadcast(late))
        if due:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_boundary and self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
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


def fit_resuming(
    trainer: L.Trainer,
    module: L.LightningModule,
    datamodule: Any,
    checkpoints: Path,
    what: str,
    damaged: Literal["refuse", "set_aside"] = "refuse",
) -> None:
    """``trainer.fit``, continuing from ``checkpoints/last.ckpt`` when an earlier attempt left one.

    Whoever calls it has made sure that attempt ran the same config (a run folder is
    claimed for one config; a teacher's checkpoints sit beside its cache entry, whose key
    hashes everything that shapes it).

    The checkpoint is loaded once before training, so one that does not load is found here:
    ``damaged="refuse"`` (a run's own folder) stops with :class:`DamagedCheckpoint`, which
    names the file and the fix; ``"set_aside"`` (a shared teacher's, which every job needing
    that teacher would trip on) renames it ``last.ckpt.damaged-<time>``, says so, and trains
    from step 0.
    """
    for stale in remove_stale_temporaries(checkpoints / LAST):
        print(f"[{what}] removed {stale}, left by a process killed while writing it")
    resume = latest_checkpoint(checkpoints)
    if resume is not None:
        try:
            checkpoint = load_checkpoint_file(resume)
            step = int(checkpoint["global_step"])
        except DamagedCheckpoint as err:
            if damaged == "refuse":
                raise DamagedCheckpoint(
                    resume,
                    f"{err.reason}. It was cut short or overwritten. To train this run from step 0, move "
                    f"it aside (mv {resume} {resume}.damaged) and rerun the same command; to keep its "
                    "progress, restore the file from a copy",
                ) from err
            aside = resume.with_name(f"{LAST}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            resume.replace(aside)
            print(f"[{what}] {resume} does not load ({err.reason}); set aside as {aside.name}, training from step 0")
            resume = None
        else:
            other = _other_code(trainer, checkpoint) if damaged == "set_aside" else ""
            if other:
                # A shared teacher's key covers its data, not the code: a fine-tune begun by other
                # code is begun again rather than finished by this code.
                aside = resume.with_name(f"{LAST}.other-code-{time.strftime('%Y%m%d-%H%M%S')}")
                resume.replace(aside)
                print(f"[{what}] {resume} was written by other code ({other}); set aside, training from step 0")
                resume = None
            else:
                print(f"[{what}] resuming from {resume}, step {step}")
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)


def _other_code(trainer: L.Trainer, checkpoint: dict[str, Any]) -> str:
    """``"<then> then, <now> now"`` when the checkpoint's recorded commit differs from this
    process's (per the trainer's :class:`ResumeGuard`), else ``""``."""
    guards = [c for c in getattr(trainer, "callbacks", []) if isinstance(c, ResumeGuard)]
    then = (checkpoint.get(FINGERPRINT) or {}).get("code", "not recorded")
    if not guards or then == guards[0].code:
        return ""
    return f"{then} then, {guards[0].code} now"


def latest_checkpoint(dirpath: Path) -> Path | None:
    path = dirpath / LAST
    return path if path.is_file() else None


def checkpoint_step(path: Path) -> int:
    """The optimiser step a checkpoint was written at (:class:`DamagedCheckpoint` if it does not load)."""
    return int(load_checkpoint_file(path)["global_step"])


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


class SaveOnInterrupt(StepBoundary):
    """Write ``path`` when SIGTERM or Ctrl-C stops training at an optimiser-step boundary.

    Lightning raises ``SIGTERMException`` at the end of the batch in progress; Ctrl-C
    interrupts wherever it lands. Stopped between two steps (a partial gradient
    accumulation, a batch cut short) it writes nothing and ``path`` keeps the last boundary:
    the batches since are trained again on resume, exactly as the uninterrupted run did.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, (SIGTERMException, KeyboardInterrupt)) or not trainer.training:
            return
        if not self.at_boundary:
            if trainer.is_global_zero:
                kept = f"{self.path} keeps the last one" if self.path.is_file() else "there is none yet"
                print(
                    f"[checkpoint] stopped between optimiser steps {trainer.global_step} and "
                    f"{trainer.global_step + 1}; a checkpoint is only written at a step, {kept}; "
                    "rerun the same command to resume"
                )
            return
        save_if_finite(trainer, self.path)
        if trainer.is_global_zero:
            print(
                f"[checkpoint] stopped at step {trainer.global_step}; saved {self.path}; "
                "rerun the same command to resume"
            )
