"""A tiny distillation run that can be killed at a chosen batch and resumed in the same process.

The kill is an exception raised from a callback at the end of a batch: like SIGKILL it
writes nothing (the checkpoint callbacks only save on SIGTERM and Ctrl-C), so the resumed
run starts from whatever ``last.ckpt`` the periodic trigger left. ``kind="sigterm"`` raises
Lightning's ``SIGTERMException`` instead, as Lightning does after a SIGTERM.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from distill_zoo.data.sampling import ResumableLoader, TrainingPosition
from distill_zoo.models import random_classifier
from distill_zoo.objectives import Objective
from distill_zoo.training import DistillationModule
from distill_zoo.training.checkpoint_io import AtomicCheckpointIO
from distill_zoo.training.checkpoints import checkpoint_callbacks, fit_resuming
from tests.conftest import TOKENIZER, padded_batch, tiny_bert


class Killed(RuntimeError):
    """The simulated kill of a training process."""


class KillAt(L.Callback):
    """Stop training at the end of batch ``batch`` (1-based, counted over the whole run)."""

    def __init__(self, batch: int, kind: str = "kill") -> None:
        self.batch, self.kind = batch, kind

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.fit_loop.epoch_loop.total_batch_idx + 1 == self.batch:
            raise SIGTERMException() if self.kind == "sigterm" else Killed(f"killed after batch {self.batch}")


class Batches(TrainingPosition, L.LightningDataModule):
    """``count`` fixed padded batches per epoch, resumable mid-epoch like the project's datamodules."""

    def __init__(self, count: int, data_seed: int = 0) -> None:
        super().__init__()
        self.batches = [padded_batch(4, 8, seed=data_seed + i) for i in range(count)]

    def train_tokens_digest(self) -> tuple[str, int]:
        digest = hashlib.sha256(b"".join(b["input_ids"].numpy().tobytes() for b in self.batches))
        return digest.hexdigest(), max(b["input_ids"].shape[1] for b in self.batches)

    def train_dataloader(self) -> ResumableLoader:
        # Its own generator, as the project's loaders: creating the iterator draws no global random number.
        return ResumableLoader(
            self.batches,
            batch_size=None,
            generator=torch.Generator().manual_seed(0),
            skip_batches=self.batches_to_skip(len(self.batches)),
        )


def quiet_trainer(**options: Any) -> L.Trainer:
    """A CPU trainer without logger, progress bar, summary or Lightning's own checkpoints."""
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        plugins=[AtomicCheckpointIO()],  # as the project's trainers (pipeline.builders.build_trainer)
        **options,
    )


def dropout_student() -> torch.nn.Module:
    """A tiny student with dropout 0.1, so a resume that loses the random streams shows."""
    torch.manual_seed(1)
    return random_classifier(TOKENIZER, 2, num_layers=2, hidden_size=32, num_heads=2, intermediate_size=64)


def train(
    folder: Path,
    objective: Callable[[], Objective],
    schedule: Callable[[], list[L.Callback]],
    steps: int,
    kill: KillAt | None = None,
    accumulate: int = 1,
    checkpoint: dict[str, Any] | None = None,
    extra: list[L.Callback] | None = None,
    damaged: str = "refuse",
    data_seed: int = 0,
) -> tuple[L.Trainer, dict[str, torch.Tensor]]:
    """Train ``steps`` optimiser steps in ``folder`` (resuming from its checkpoint if there is one);
    return the trainer and the student's weights."""
    L.seed_everything(0, verbose=False)
    module = DistillationModule(
        student=dropout_student(),
        objective=objective(),
        teacher=tiny_bert(num_layers=4, seed=2),
        optimizer=lambda groups: torch.optim.AdamW(groups, lr=1e-2, weight_decay=0.0),
        warmup_ratio=0.25,
    )
    saves = checkpoint_callbacks(folder, every_n_epochs=0, **(checkpoint or {"every_n_steps": 2}))
    trainer = quiet_trainer(
        max_steps=steps,
        max_epochs=-1,
        accumulate_grad_batches=accumulate,
        callbacks=[*schedule(), *saves, *([kill] if kill else []), *(extra or [])],
    )
    L.seed_everything(0, verbose=False)
    fit_resuming(trainer, module, Batches(6, data_seed), folder, "test", damaged=damaged)  # type: ignore[arg-type]
    weights = {k: v.detach().clone() for k, v in module.student.model.state_dict().items()}
    return trainer, weights


def killed_then_resumed(folder: Path, kill: KillAt, **options: Any) -> dict[str, torch.Tensor]:
    """Train with ``kill``, then rerun the same training in ``folder``; the resumed weights."""
    try:
        train(folder, kill=kill, **options)
    except (Killed, SIGTERMException):
        pass
    else:
        raise AssertionError("the run was not killed")
    assert (folder / "last.ckpt").is_file(), "the killed run left no checkpoint"
    return train(folder, **options)[1]


def differing(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> list[str]:
    """Names of the tensors that are not bit-identical."""
    assert got.keys() == want.keys()
    return [name for name in want if not torch.equal(got[name], want[name])]
