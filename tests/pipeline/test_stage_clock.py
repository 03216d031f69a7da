"""The run summary's time line: one entry per stage in seconds, throughput apart."""

from __future__ import annotations

from distill_zoo.pipeline.stages import _StageClock


def test_stage_times_and_throughput_are_reported_apart():
    clock = _StageClock()
    clock.seconds.update({"prepare_s": 0.5, "distill_s": 4.0})
    clock.rate("distill_samples_per_s", 100, "distill")
    assert clock.seconds["distill_samples_per_s"] == 25.0
    assert clock.summary() == "time: prepare 0.5 s · distill 4.0 s · 25 training samples/s"
    clock.rate("eval_samples_per_s", 10, "eval")  # a stage that did not run has no rate
    assert "eval_samples_per_s" not in clock.seconds
