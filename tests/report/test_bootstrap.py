"""The paired bootstrap: its vectorised replicates against an explicit loop, its coverage."""

from __future__ import annotations

import numpy as np
import pytest

from distill_zoo.report.bootstrap import (
    bootstrap_differences,
    paired_bootstrap_ci,
    percentile_interval,
    resamples,
)
from tests.report.synthetic import predict_with_accuracy
from tests.report.test_metrics import reference


def seeds_of(labels: np.ndarray, accuracy: float, seeds: int, rng: np.random.Generator) -> np.ndarray:
    return np.stack([predict_with_accuracy(labels, accuracy, rng) for _ in range(seeds)])


@pytest.mark.parametrize("metric", ["acc", "mcc", "spearman"])
def test_replicates_equal_an_explicit_loop_over_seeds_and_examples(metric):
    """Replicate b: draw seeds and example indices, score both methods with torchmetrics on
    the same drawn examples for every drawn seed, average the differences."""
    rng = np.random.default_rng(0)
    n, seeds, replicates = 40, 3, 12
    if metric == "spearman":
        labels = rng.uniform(0, 5, n).round(1)
        method = np.stack([(labels + rng.normal(0, 1, n)).round(1) for _ in range(seeds)])
        baseline = np.stack([(labels + rng.normal(0, 2, n)).round(1) for _ in range(seeds)])
    else:
        labels = rng.integers(0, 2, n)
        method, baseline = seeds_of(labels, 0.8, seeds, rng), seeds_of(labels, 0.7, seeds, rng)
    expected = []
    for picks, indices in resamples(seeds, n, replicates):
        for seed_picks, idx in zip(picks, indices):
            diffs = [
                reference(metric, labels[idx], method[s][idx]) - reference(metric, labels[idx], baseline[s][idx])
                for s in seed_picks
            ]
            expected.append(np.mean(diffs))
    got = bootstrap_differences(metric, labels, method, baseline, replicates)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_draws_are_chunked_the_same_way_whatever_the_count():
    """The first replicates do not depend on how many are asked for (fixed stream)."""
    a = bootstrap_differences("acc", *_pair(0.8, 0.7, seed=1), replicates=600)
    b = bootstrap_differences("acc", *_pair(0.8, 0.7, seed=1), replicates=300)
    np.testing.assert_array_equal(a[:300], b)


def _pair(acc_method: float, acc_baseline: float, n: int = 1000, seeds: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return labels, seeds_of(labels, acc_method, seeds, rng), seeds_of(labels, acc_baseline, seeds, rng)


def test_the_interval_covers_the_true_difference():
    """Students right with known probabilities 0.85 and 0.80 on 1000 examples, 3 seeds:
    the true difference 0.05 lies in at least 90 % of 40 independent intervals."""
    covered = 0
    for trial in range(40):
        low, high = paired_bootstrap_ci("acc", *_pair(0.85, 0.80, seed=100 + trial))
        covered += low <= 0.05 <= high
    assert covered >= 36


def test_a_large_gain_excludes_zero_and_no_gain_includes_it():
    low, high = paired_bootstrap_ci("acc", *_pair(0.90, 0.80, seed=7))
    assert 0 < low < 0.1 < high
    low, high = paired_bootstrap_ci("acc", *_pair(0.85, 0.85, seed=7))
    assert low < 0 < high


def test_the_interval_is_reproducible_and_its_seed_matters():
    data = _pair(0.85, 0.80, seed=3)
    assert paired_bootstrap_ci("acc", *data) == paired_bootstrap_ci("acc", *data)
    assert paired_bootstrap_ci("acc", *data) != paired_bootstrap_ci("acc", *data, seed=1)


def test_identical_methods_have_a_zero_width_interval_at_zero():
    labels, method, _ = _pair(0.8, 0.8)
    assert paired_bootstrap_ci("acc", labels, method, method.copy()) == (0.0, 0.0)


def test_percentile_interval_ignores_nan_and_gives_none_when_all_are():
    values = np.r_[np.arange(101, dtype=float), np.nan]
    assert percentile_interval(values) == pytest.approx((2.5, 97.5))
    assert percentile_interval(np.array([np.nan, np.nan])) is None


def test_mismatched_predictions_are_refused():
    labels, method, baseline = _pair(0.8, 0.7)
    with pytest.raises(ValueError, match="predictions must be"):
        bootstrap_differences("acc", labels, method, baseline[:2])
