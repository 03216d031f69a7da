"""The gain's interval: its parts against explicit loops and closed forms, its edge cases."""

from __future__ import annotations

import math
from itertools import permutations

import numpy as np
import pytest
from scipy import stats

from distill_zoo.report.bootstrap import (
    accuracy_dev_variance,
    correct_differences,
    dev_variance,
    paired_ci,
    resample_weights,
    seed_differences,
    shared_covariance,
    t_interval,
)
from tests.report.synthetic import predict_with_accuracy
from tests.report.test_metrics import reference


def seeds_of(labels: np.ndarray, accuracy: float, seeds: int, rng: np.random.Generator) -> np.ndarray:
    return np.stack([predict_with_accuracy(labels, accuracy, rng) for _ in range(seeds)])


def _pair(acc_method: float, acc_baseline: float, n: int = 1000, seeds: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return labels, seeds_of(labels, acc_method, seeds, rng), seeds_of(labels, acc_baseline, seeds, rng)


def _sharing_pair(n: int = 500, agreed: int = 400, seed: int = 2):
    """Seeds that agree on the first ``agreed`` examples: they share dev noise."""
    labels, method, baseline = _pair(0.85, 0.8, n=n, seeds=3, seed=seed)
    method[1:, :agreed], baseline[1:, :agreed] = method[0, :agreed], baseline[0, :agreed]
    return labels, method, baseline


def _regression_pair(n: int, seeds: int, rng: np.random.Generator):
    labels = rng.uniform(0, 5, n).round(1)
    method = np.stack([(labels + rng.normal(0, 1, n)).round(1) for _ in range(seeds)])
    baseline = np.stack([(labels + rng.normal(0, 2, n)).round(1) for _ in range(seeds)])
    return labels, method, baseline


@pytest.mark.parametrize("metric", ["acc", "mcc", "spearman"])
def test_seed_differences_on_resamples_equal_an_explicit_loop(metric):
    """Resample r, seed s: torchmetrics' metric of the method minus the baseline's, both
    with seed s, on the examples drawn (an example drawn twice counted twice)."""
    rng = np.random.default_rng(0)
    labels, method, baseline = _regression_pair(40, 3, rng) if metric == "spearman" else _pair(0.8, 0.7, n=40, seed=0)
    weights = next(resample_weights(len(labels), 12))
    expected = [
        [
            reference(metric, labels[idx], m[idx]) - reference(metric, labels[idx], b[idx])
            for m, b in zip(method, baseline)
        ]
        for idx in (np.repeat(np.arange(len(labels)), w) for w in weights)
    ]
    got = seed_differences(metric, labels, method, baseline, weights)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_resamples_are_chunked_the_same_way_whatever_the_count():
    """The first resamples do not depend on how many are asked for (fixed stream)."""
    a = np.concatenate(list(resample_weights(50, 600)))
    b = np.concatenate(list(resample_weights(50, 300)))
    np.testing.assert_array_equal(a[:300], b)
    assert a.shape == (600, 50) and (a.sum(1) == 50).all()


@pytest.mark.parametrize("ddof", [0, 1])
def test_shared_covariance_is_the_mean_covariance_of_distinct_seeds(ddof):
    values = np.random.default_rng(1).normal(size=(2, 4, 30))
    for got, seeds in zip(shared_covariance(values, ddof), values):
        pairs = [np.cov(seeds[s], seeds[t], ddof=ddof)[0, 1] for s, t in permutations(range(4), 2)]
        assert got == pytest.approx(np.mean(pairs), rel=1e-12)


def test_the_dev_variance_of_accuracy_is_the_bootstrap_limit():
    """Accuracy's exact dev variance is what many resamples of the examples converge to."""
    labels, method, baseline = _sharing_pair()
    exact = accuracy_dev_variance(correct_differences(labels, method, baseline))
    assert exact > 0
    assert dev_variance("acc", labels, method, baseline, replicates=4000) == pytest.approx(exact, rel=0.1)


def test_seeds_that_share_no_examples_errors_add_no_dev_variance():
    """Seeds erring independently: their dev noise is in the seeds' spread already, so the
    dev variance is near 0, far below the variance of the seed-averaged difference."""
    labels, method, baseline = _pair(0.85, 0.8, n=2000, seeds=5, seed=3)
    correct = correct_differences(labels, method, baseline)
    averaged = correct.mean(0).var() / correct.shape[1]
    assert abs(accuracy_dev_variance(correct)) < 0.1 * averaged


def test_the_interval_is_the_mean_plus_minus_t_times_both_variances():
    differences = np.array([0.01, 0.03, 0.02])
    low, high = t_interval(differences, 1e-5)
    half = stats.t.ppf(0.975, 2) * math.sqrt(0.01**2 / 3 + 1e-5)
    assert (low, high) == pytest.approx((0.02 - half, 0.02 + half), rel=1e-12)
    lows, highs = t_interval(np.stack([differences, differences + 1]), np.array([1e-5, 1e-5]), level=0.9)
    assert highs - lows == pytest.approx(2 * stats.t.ppf(0.95, 2) * math.sqrt(0.01**2 / 3 + 1e-5))


def test_the_interval_centres_on_the_mean_difference_of_paired_seeds():
    labels, method, baseline = _pair(0.85, 0.8, seed=4)
    low, high = paired_ci("acc", labels, method, baseline)
    centre = np.mean([(m == labels).mean() - (b == labels).mean() for m, b in zip(method, baseline)])
    assert (low + high) / 2 == pytest.approx(centre, abs=1e-12) and low < centre < high


def test_a_large_gain_excludes_zero_and_no_gain_includes_it():
    low, high = paired_ci("acc", *_pair(0.90, 0.80, seed=7))
    assert 0 < low < 0.1 < high
    low, high = paired_ci("acc", *_pair(0.85, 0.85, seed=7))
    assert low < 0 < high


def test_a_bootstrap_interval_is_reproducible_and_its_seed_matters():
    data = _sharing_pair(seed=3)
    assert paired_ci("mcc", *data, replicates=200) == paired_ci("mcc", *data, replicates=200)
    assert paired_ci("mcc", *data, replicates=200) != paired_ci("mcc", *data, replicates=200, seed=1)


def test_identical_methods_have_a_zero_width_interval_at_zero():
    labels, method, _ = _pair(0.8, 0.8)
    assert paired_ci("acc", labels, method, method.copy()) == (0.0, 0.0)
    assert paired_ci("mcc", labels, method, method.copy(), replicates=50) == (0.0, 0.0)


def test_one_seed_has_no_interval():
    labels, method, baseline = _pair(0.9, 0.8, seeds=1)
    assert paired_ci("acc", labels, method, baseline) is None
    with pytest.raises(ValueError, match="at least two seeds"):
        t_interval(np.array([0.1]), 0.0)


def test_perplexity_resamples_held_out_blocks_with_their_token_counts():
    """Blocks of unequal length: a resample's perplexity weighs each block by its tokens."""
    rng = np.random.default_rng(5)
    tokens = rng.integers(20, 200, 300)
    method = np.stack([tokens * rng.normal(3.0, 0.3, 300) for _ in range(3)])
    baseline = np.stack([tokens * rng.normal(3.1, 0.3, 300) for _ in range(3)])
    low, high = paired_ci("ppl_heldout", tokens, method, baseline, replicates=300)
    gains = np.exp(method.sum(1) / tokens.sum()) - np.exp(baseline.sum(1) / tokens.sum())
    assert low < gains.mean() < high < 0


def test_an_undefined_metric_has_no_interval():
    """Pearson of a constant prediction is NaN on the full set and on every resample."""
    labels = np.random.default_rng(6).uniform(0, 5, 50)
    constant = np.full((2, 50), 2.5)
    assert paired_ci("pearson", labels, constant, constant + 1, replicates=20) is None


def test_mismatched_predictions_are_refused():
    labels, method, baseline = _pair(0.8, 0.7)
    with pytest.raises(ValueError, match="predictions must be"):
        paired_ci("acc", labels, method, baseline[:2])
