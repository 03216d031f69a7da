"""The run summary's time line: one entry per stage in seconds, throughput apart."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import pytest

from distill_zoo.pipeline import distill_stage
from distill_zoo.pipeline.stages import _StageClock
from tests.conftest import TINY_RUN, run_job
from tests.training.resumable import Killed


def test_stage_times_and_throughput_are_reported_apart():
    clock = _StageClock()
    clock.seconds.update({"prepare_s": 0.5, "distill_s": 4.0})
    clock.rate("distill_samples_per_s", 100, "distill")
    assert clock.seconds["distill_samples_per_s"] == 25.0
    assert clock.summary() == "time: prepare 0.5 s · distill 4.0 s · 25 training samples/s"
    clock.rate("eval_samples_per_s", 10, "eval")  # a stage that did not run has no rate
    assert "eval_samples_per_s" not in clock.seconds


class _SlowThenKilled(L.Callback):
    """Sleep ``pause`` seconds in each batch of the first process, and kill it after batch ``kill_after``."""

    def __init__(self, pause: float, kill_after: int) -> None:
        self.pause, self.kill_after = pause, kill_after

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        time.sleep(self.pause)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step == self.kill_after:
            raise Killed("killed")


def test_a_resumed_run_counts_the_time_of_its_earlier_processes(tmp_path, monkeypatch):
    """Killed after step 3 of 4 with a checkpoint at step 2: the first process's two slow steps
    (at least 2 x 1.5 s) belong to the run's time, and its throughput divides by them too."""
    overrides = [*TINY_RUN, "checkpoint.every_n_steps=2"]
    build = distill_stage.build_callbacks
    monkeypatch.setattr(distill_stage, "build_callbacks", lambda cfg: [*build(cfg), _SlowThenKilled(1.5, 3)])
    with pytest.raises(Killed):
        run_job(overrides, tmp_path)
    monkeypatch.setattr(distill_stage, "build_callbacks", build)
    started = time.perf_counter()
    record = run_job(overrides, tmp_path)
    resumed_s = time.perf_counter() - started
    assert record is not None and record.budget["steps_done"] == 4
    assert record.wall_time_s > resumed_s, "the wall time counts the resumed process only"
    assert record.timings["distill_s"] >= 2 * 1.5
    assert record.timings["distill_samples_per_s"] <= record.budget["examples_seen"] / (2 * 1.5)
