"""Resamples on which a metric is undefined are left out of the dev variance, not zeroed."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from distill_zoo.report.bootstrap import dev_variance, resample_weights


def _pearson(predicted: np.ndarray, labels: np.ndarray) -> float:
    if np.ptp(predicted) == 0:
        return float("nan")  # a constant prediction has no correlation
    return float(np.corrcoef(predicted, labels)[0, 1])


def test_resamples_where_a_seed_is_undefined_are_dropped_before_the_covariance():
    rng = np.random.default_rng(11)
    n, seeds, replicates = 10, 3, 200
    labels = rng.uniform(0, 5, n)
    shared = rng.normal(0, 1, n)  # the seeds err alike: their differences share dev noise
    method = np.stack([labels + shared + rng.normal(0, 0.2, n) for _ in range(seeds)])
    # The baseline predicts one score except on example 0: a resample without it is constant.
    baseline = np.full((seeds, n), 2.5)
    baseline[:, 0] = 4.0

    kept = []
    for weights in np.concatenate(list(resample_weights(n, replicates))):
        idx = np.repeat(np.arange(n), weights)
        row = [_pearson(m[idx], labels[idx]) - _pearson(b[idx], labels[idx]) for m, b in zip(method, baseline)]
        if not np.isnan(row).any():
            kept.append(row)
    kept_array = np.array(kept)
    assert 20 < len(kept_array) < replicates - 20, "the case must drop some resamples and keep others"
    pairs = [np.cov(kept_array[:, s], kept_array[:, t], ddof=1)[0, 1] for s, t in permutations(range(seeds), 2)]
    expected = max(0.0, float(np.mean(pairs)))
    assert expected > 0

    got = dev_variance("pearson", labels, method, baseline, replicates=replicates)
    assert got == pytest.approx(expected, rel=1e-6)
