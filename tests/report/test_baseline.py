"""A row's interval pairs its runs with the baseline's by seed, whatever order they come in."""

from __future__ import annotations

import numpy as np
import pytest

from distill_zoo.report import build_report, compare_to_baseline
from distill_zoo.report.bootstrap import paired_ci
from distill_zoo.report.predictions import read_predictions
from tests.report.synthetic import dev_labels, simulated_run


def _sweep(tmp_path, none_seeds, kd_seeds):
    """Runs of ``none`` and ``kd``; returns (labels, {(method, seed): student predictions})."""
    labels = dev_labels(300)
    predictions = {}
    for method, seeds, accuracy in (("none", none_seeds, 0.8), ("kd", kd_seeds, 0.85)):
        for seed in seeds:
            folder = tmp_path / f"{method}{seed}"
            simulated_run(folder, method, seed, labels, accuracy)
            predictions[(method, seed)] = read_predictions(folder).student
    return labels, predictions


def _interval(labels, predictions, kd_seeds, none_seeds):
    method = np.stack([predictions[("kd", s)] for s in kd_seeds])
    return paired_ci("acc", labels, method, np.stack([predictions[("none", s)] for s in none_seeds]))


def test_the_interval_pairs_runs_by_seed_when_the_rows_have_different_seeds(tmp_path):
    """kd has seeds 2, 3, 4 and none 1, 2, 3: the pairs are (2, 2) and (3, 3), not the
    runs in the same place of each row's list, (2, 1) and (3, 2)."""
    labels, predictions = _sweep(tmp_path, none_seeds=(1, 2, 3), kd_seeds=(2, 3, 4))
    kd = next(r for r in build_report([tmp_path], replicates=100).rows if r.method == "kd")
    by_seed = _interval(labels, predictions, (2, 3), (2, 3))
    assert by_seed != _interval(labels, predictions, (2, 3), (1, 2))  # the pairing matters here
    assert (kd.ci_low, kd.ci_high) == pytest.approx(by_seed, rel=1e-12)


def test_the_interval_pairs_runs_by_seed_whatever_their_order_in_the_row(tmp_path):
    labels, predictions = _sweep(tmp_path, none_seeds=(1, 2, 3), kd_seeds=(1, 2, 3))
    rows = build_report([tmp_path], replicates=0).rows
    kd = next(r for r in rows if r.method == "kd")
    kd.runs.reverse()
    compare_to_baseline(rows, replicates=100)
    by_seed = _interval(labels, predictions, (1, 2, 3), (1, 2, 3))
    assert by_seed != _interval(labels, predictions, (3, 2, 1), (1, 2, 3))  # the pairing matters here
    assert (kd.ci_low, kd.ci_high) == pytest.approx(by_seed, rel=1e-12)


def test_one_shared_seed_gives_a_delta_and_no_interval(tmp_path):
    _sweep(tmp_path, none_seeds=(1, 2), kd_seeds=(2, 3))
    kd = next(r for r in build_report([tmp_path], replicates=100).rows if r.method == "kd")
    assert kd.delta is not None and kd.ci_low is None and kd.ci_high is None
    assert kd.notes == ["delta over the seeds both have: [2]; one seed gives no CI"]
