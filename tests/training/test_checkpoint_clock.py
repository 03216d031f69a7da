"""When checkpoints are written, on a fake clock: minutes, epochs, optimiser-step boundaries,
frozen weights; and the training seconds a resumed run inherits from its checkpoint."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import Timer

from distill_zoo.training.checkpoints import (
    PeriodicCheckpoint,
    SaveOnInterrupt,
    earlier_training_seconds,
    save_if_finite,
)


class Clock:
    """``time.monotonic`` for the checkpoint module and Lightning's Timer: moved by hand."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: float = 1000.0) -> None:
        self.now = start
        monkeypatch.setattr(time, "monotonic", lambda: self.now)


def _trainer(saved: list) -> SimpleNamespace:
    """A trainer that records the (step, epoch) of each save; its module's weights are finite."""
    trainer = SimpleNamespace(lightning_module=torch.nn.Linear(2, 1), global_step=0, current_epoch=0)
    trainer.strategy = SimpleNamespace(broadcast=lambda value: value)
    trainer.save_checkpoint = lambda path, **_: saved.append((trainer.global_step, trainer.current_epoch))
    return trainer


def _batch(callback, trainer: SimpleNamespace, steps: bool = True) -> None:
    """One training batch; ``steps``: its end steps the optimiser (else it accumulates)."""
    callback.on_train_batch_start(trainer, None)
    trainer.global_step += int(steps)
    callback.on_train_batch_end(trainer, None)


def test_the_clock_trigger_counts_minutes_from_the_last_save(tmp_path, monkeypatch):
    clock, saved = Clock(monkeypatch), []
    trainer = _trainer(saved)
    callback = PeriodicCheckpoint(tmp_path / "last.ckpt", every_n_epochs=0, every_n_minutes=1.0)
    callback.on_train_start(trainer, None)  # type: ignore[arg-type]
    for seconds in (30, 59, 61, 100, 120, 122):  # one optimiser step each
        clock.now = 1000.0 + seconds
        _batch(callback, trainer)
    # 61 s after the start, then 61 s after that save (not 60 s after the start: 120 s).
    assert saved == [(3, 0), (6, 0)]


def test_a_late_clock_waits_for_the_next_optimiser_step(tmp_path, monkeypatch):
    """With gradient accumulation the clock may fall due mid-step: the save waits for the step."""
    clock, saved = Clock(monkeypatch), []
    trainer = _trainer(saved)
    callback = PeriodicCheckpoint(tmp_path / "last.ckpt", every_n_epochs=1, every_n_minutes=1.0)
    callback.on_train_start(trainer, None)  # type: ignore[arg-type]
    clock.now += 90
    _batch(callback, trainer, steps=False)
    callback.on_train_epoch_end(trainer, None)  # type: ignore[arg-type]  # the epoch ended mid-step too
    assert saved == []
    _batch(callback, trainer, steps=True)
    assert saved == [(1, 0)]


def test_an_interrupt_between_two_optimiser_steps_writes_nothing(tmp_path, capsys):
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    saved: list = []
    trainer = _trainer(saved)
    trainer.training, trainer.is_global_zero = True, True
    callback = SaveOnInterrupt(tmp_path / "last.ckpt")
    _batch(callback, trainer, steps=False)
    callback.on_exception(trainer, None, SIGTERMException())  # type: ignore[arg-type]
    assert saved == [] and "stopped between optimiser steps 0 and 1" in capsys.readouterr().out
    _batch(callback, trainer, steps=True)
    callback.on_exception(trainer, None, SIGTERMException())  # type: ignore[arg-type]
    assert saved == [(1, 0)]


def test_the_epoch_trigger_saves_after_every_nth_epoch_and_zero_means_never(tmp_path):
    saved: list = []
    trainer = _trainer(saved)
    every_second = PeriodicCheckpoint(tmp_path / "last.ckpt", every_n_epochs=2)
    never = PeriodicCheckpoint(tmp_path / "other.ckpt", every_n_epochs=0, every_n_minutes=0, every_n_steps=0)
    for epoch in range(5):
        trainer.current_epoch = epoch
        _batch(never, trainer)
        never.on_train_epoch_end(trainer, None)  # type: ignore[arg-type]
        every_second.on_train_epoch_end(trainer, None)  # type: ignore[arg-type]
    # After the 2nd and 4th epochs (0-based 1 and 3), never after the 1st, 3rd or 5th.
    assert [epoch for _, epoch in saved] == [1, 3]


def test_a_frozen_non_finite_weight_does_not_stop_the_save(tmp_path):
    """Only trainable weights are checked: a frozen NaN table is nothing an update did."""
    saved: list = []
    trainer = _trainer(saved)
    frozen = torch.nn.Parameter(torch.full((2,), float("nan")), requires_grad=False)
    trainer.lightning_module.register_parameter("frozen", frozen)
    save_if_finite(trainer, tmp_path / "last.ckpt")  # type: ignore[arg-type]
    assert saved == [(0, 0)]


def test_a_resumed_run_inherits_the_seconds_trained_up_to_its_checkpoint(monkeypatch):
    clock = Clock(monkeypatch)
    resumed, fresh = Timer(), Timer()
    resumed.load_state_dict({"time_elapsed": {"train": 100.0}})  # what the checkpoint carried
    for timer in (resumed, fresh):
        timer.on_train_start(None, None)  # type: ignore[arg-type]
    clock.now += 5.0  # this process has trained 5 s so far
    assert earlier_training_seconds(SimpleNamespace(callbacks=[resumed])) == pytest.approx(100.0)
    assert earlier_training_seconds(SimpleNamespace(callbacks=[fresh])) == pytest.approx(0.0)
    resumed.on_train_end(None, None)  # type: ignore[arg-type]
    clock.now += 50.0  # after training ended, the clock no longer counts
    assert earlier_training_seconds(SimpleNamespace(callbacks=[resumed])) == pytest.approx(100.0)
    assert earlier_training_seconds(SimpleNamespace(callbacks=[])) == 0.0
