"""What a row's notes say about its baseline comparison: partly shared seeds, runs that
scored other dev examples, and how closely predictions must reproduce the recorded metric."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest

from distill_zoo.report import build_report
from distill_zoo.report.bootstrap import paired_ci
from distill_zoo.report.predictions import read_predictions
from tests.report.synthetic import dev_labels, simulated_run


def _kd(tmp_path, **options):
    return next(r for r in build_report([tmp_path], **options).rows if r.method == "kd")


def _none(tmp_path):
    return next(r for r in build_report([tmp_path], replicates=0).rows if r.method == "none")


def test_a_row_with_fewer_seeds_than_its_baseline_says_which_seeds_the_delta_covers(tmp_path):
    labels = dev_labels(200)
    for seed in (1, 2, 3):
        simulated_run(tmp_path / f"n{seed}", "none", seed, labels, 0.8)
    for seed in (1, 2):
        simulated_run(tmp_path / f"k{seed}", "kd", seed, labels, 0.9)
    kd = _kd(tmp_path, replicates=50)
    none = {run.record.seed: run.record.student.metrics["acc"] for run in _none(tmp_path).runs}
    mine = {run.record.seed: run.record.student.metrics["acc"] for run in kd.runs}
    assert kd.delta == pytest.approx(statistics.fmean(mine[s] - none[s] for s in (1, 2)))
    assert kd.notes == ["delta over the seeds both have: [1, 2]"]


def test_runs_that_scored_other_dev_examples_get_no_interval(tmp_path):
    labels, other = dev_labels(200), dev_labels(200, seed=1)
    assert not np.array_equal(labels, other)
    for seed in (1, 2):
        simulated_run(tmp_path / f"n{seed}", "none", seed, labels, 0.8)
    simulated_run(tmp_path / "k1", "kd", 1, labels, 0.9)
    simulated_run(tmp_path / "k2", "kd", 2, other, 0.9)  # its metric is right for its own examples
    kd = _kd(tmp_path, replicates=50)
    assert kd.delta is not None and kd.ci_low is None and kd.ci_high is None
    assert len(kd.notes) == 1 and "predicted other dev examples than the other runs" in kd.notes[0]


def _shift_recorded_accuracy(folder, by: float) -> None:
    path = folder / "results.json"
    payload = json.loads(path.read_text())
    payload["student"]["metrics"]["acc"] += by
    path.write_text(json.dumps(payload))


@pytest.mark.parametrize(("shift", "interval"), [(5e-5, True), (-9e-5, True), (5e-4, False)])
def test_predictions_reproduce_the_record_within_an_absolute_tolerance_of_1e_4(tmp_path, shift, interval):
    labels = dev_labels(300)
    for seed in (1, 2):
        simulated_run(tmp_path / f"n{seed}", "none", seed, labels, 0.8)
        simulated_run(tmp_path / f"k{seed}", "kd", seed, labels, 0.9)
    _shift_recorded_accuracy(tmp_path / "k1", shift)
    kd = _kd(tmp_path, replicates=50)
    if interval:
        predicted = [read_predictions(tmp_path / f"{m}{s}").student for m in ("k", "n") for s in (1, 2)]
        expected = paired_ci("acc", labels, np.stack(predicted[:2]), np.stack(predicted[2:]))
        assert kd.notes == [] and (kd.ci_low, kd.ci_high) == pytest.approx(expected, rel=1e-12)
    else:
        assert kd.ci_low is None and "its results.json" in kd.notes[0]
