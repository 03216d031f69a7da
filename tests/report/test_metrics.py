"""Metrics recomputed from predictions equal torchmetrics', on the full set and on resamples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import matthews_corrcoef
from torchmetrics.functional.classification import binary_f1_score, multiclass_accuracy
from torchmetrics.functional.regression import pearson_corrcoef, spearman_corrcoef

from distill_zoo.report.metrics import score, tied_ranks, weighted_scores
from tests.report.synthetic import torchmetrics_scores


def reference(metric: str, labels: np.ndarray, predicted: np.ndarray) -> float:
    """torchmetrics (MCC: scikit-learn, as GLUE's scorer) on an explicit (possibly resampled) list of examples."""
    if metric in ("pearson", "spearman"):
        fn = pearson_corrcoef if metric == "pearson" else spearman_corrcoef
        return float(fn(torch.tensor(predicted, dtype=torch.float64), torch.tensor(labels, dtype=torch.float64)))
    p, y = torch.tensor(predicted), torch.tensor(labels)
    classes = max(2, int(max(labels.max(), predicted.max())) + 1)
    if metric == "acc":
        return float(multiclass_accuracy(p, y, num_classes=classes, average="micro"))
    if metric == "f1":
        return float(binary_f1_score(p, y))
    return float(matthews_corrcoef(labels, predicted))  # GLUE's scorer: 0 for a constant predictor


def classification_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    cases = [(y, np.where(rng.random(50) < 0.7, y, 1 - y)), (y, y.copy()), (y, 1 - y)]
    cases += [(y, np.ones_like(y)), (y, np.zeros_like(y)), (np.ones_like(y), rng.integers(0, 2, 50))]
    return cases


@pytest.mark.parametrize("metric", ["acc", "f1", "mcc"])
@pytest.mark.parametrize("case", range(6))
def test_classification_metrics_equal_torchmetrics(metric, case):
    """Including perfect, inverted and constant predictions (MCC: GLUE's scorer, 0 when constant)."""
    labels, predicted = classification_cases()[case]
    assert score(metric, labels, predicted) == pytest.approx(reference(metric, labels, predicted), abs=1e-6)


def test_three_class_accuracy_and_mcc_equal_torchmetrics():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 200)
    predicted = np.where(rng.random(200) < 0.6, labels, rng.integers(0, 3, 200))
    for metric in ("acc", "mcc"):
        assert score(metric, labels, predicted) == pytest.approx(reference(metric, labels, predicted), abs=1e-6)


@pytest.mark.parametrize("metric", ["pearson", "spearman"])
def test_regression_metrics_equal_torchmetrics_with_ties(metric):
    rng = np.random.default_rng(2)
    labels = rng.uniform(0, 5, 300).round(1)  # many ties
    predicted = (labels + rng.normal(0, 1, 300)).round(1)
    assert score(metric, labels, predicted) == pytest.approx(reference(metric, labels, predicted), abs=1e-6)


@pytest.mark.parametrize("metric", ["acc", "f1", "mcc", "pearson", "spearman"])
def test_every_resample_equals_torchmetrics_on_the_drawn_examples(metric):
    """The weighted (vectorised) form against torchmetrics on each explicit resample."""
    rng = np.random.default_rng(3)
    n = 60
    if metric in ("pearson", "spearman"):
        labels = rng.uniform(0, 5, n).round(1)
        predicted = (labels + rng.normal(0, 1.5, n)).round(1)
    else:
        labels = rng.integers(0, 2, n)
        predicted = np.where(rng.random(n) < 0.75, labels, 1 - labels)
    indices = rng.integers(0, n, (25, n))
    weights = np.stack([np.bincount(i, minlength=n) for i in indices])
    got = weighted_scores(metric, labels, predicted, weights)
    want = [reference(metric, labels[i], predicted[i]) for i in indices]
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_the_pipeline_metric_of_a_synthetic_run_is_reproduced():
    """The record's value (training.metrics, float32) is what predictions give back."""
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 500)
    predicted = np.where(rng.random(500) < 0.8, labels, 1 - labels)
    for metric, value in torchmetrics_scores("cola", labels, predicted).items():
        assert score(metric, labels, predicted) == pytest.approx(value, abs=1e-6)


def test_copies_of_one_example_share_their_mean_rank():
    ranks = tied_ranks(np.array([3.0, 1.0, 2.0]), np.array([[2, 1, 0], [1, 1, 1]]))
    # resample 0 is [3, 3, 1]: 1 has rank 1, the two 3s share ranks 2 and 3
    assert ranks[0, 0] == 2.5 and ranks[0, 1] == 1.0
    np.testing.assert_array_equal(ranks[1], [3.0, 1.0, 2.0])


def test_constant_predictions_give_nan_pearson_and_unknown_metrics_are_refused():
    assert np.isnan(score("pearson", np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])))
    with pytest.raises(ValueError, match="cannot recompute 'bleu'"):
        score("bleu", np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="f1 is binary"):
        score("f1", np.array([0, 1, 2]), np.array([0, 1, 2]))


def test_held_out_perplexity_of_each_resample_is_the_perplexity_of_its_drawn_tokens():
    """Per-block NLL sums and token counts give, on every resample, exp of the mean NLL over
    the tokens of the drawn blocks (a block drawn twice counts its tokens twice)."""
    rng = np.random.default_rng(5)
    blocks = [rng.exponential(4.0, rng.integers(1, 30)) for _ in range(40)]  # per-token NLLs
    counts = np.array([len(b) for b in blocks])
    sums = np.array([b.sum() for b in blocks])
    indices = rng.integers(0, len(blocks), (20, len(blocks)))
    weights = np.stack([np.bincount(i, minlength=len(blocks)) for i in indices])
    want = [np.exp(np.mean(np.concatenate([blocks[j] for j in i]))) for i in indices]
    np.testing.assert_allclose(weighted_scores("ppl_heldout", counts, sums, weights), want, rtol=1e-12)
    assert score("ppl_heldout", counts, sums) == pytest.approx(np.exp(np.concatenate(blocks).mean()), rel=1e-12)
