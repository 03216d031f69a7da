"""GLUE metrics against explicit formulas, on fixed predictions and through a real validation run."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from scipy import stats
from torch.utils.data import DataLoader

from distill_zoo.objectives import SupervisedObjective
from distill_zoo.training import DistillationModule, build_metrics, predictions
from tests.conftest import padded_batch, tiny_bert


def slow_f1(preds: list[int], labels: list[int]) -> float:
    """F1 of the positive class (1)."""
    tp = sum(p == 1 and y == 1 for p, y in zip(preds, labels))
    fp = sum(p == 1 and y == 0 for p, y in zip(preds, labels))
    fn = sum(p == 0 and y == 1 for p, y in zip(preds, labels))
    return 2 * tp / (2 * tp + fp + fn)


def slow_mcc(preds: list[int], labels: list[int]) -> float:
    """Matthews correlation (Gorodkin's multi-class form; the usual formula for 2 classes)."""
    classes = sorted(set(preds) | set(labels))
    n = len(preds)
    correct = sum(p == y for p, y in zip(preds, labels))
    predicted = [sum(p == k for p in preds) for k in classes]
    true = [sum(y == k for y in labels) for k in classes]
    numerator = correct * n - sum(a * b for a, b in zip(predicted, true))
    return numerator / math.sqrt((n * n - sum(a * a for a in predicted)) * (n * n - sum(b * b for b in true)))


def slow_pearson(x: list[float], y: list[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def average_ranks(x: list[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of their positions."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    ranks = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


PREDS = [1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1]
LABELS = [1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1]


def compute(names: tuple[str, ...], num_labels: int, preds, labels, batches: int = 3) -> dict[str, float]:
    """Feed the metrics in several batches, as a validation loop does."""
    metrics = build_metrics(names, num_labels, sync=False)
    for p, y in zip(torch.tensor(preds).chunk(batches), torch.tensor(labels).chunk(batches)):
        metrics.update(p, y)
    return {k: float(v) for k, v in metrics.compute().items()}


def test_classification_metrics_match_formulas():
    out = compute(("acc", "f1", "mcc"), 2, PREDS, LABELS)
    assert out["acc"] == pytest.approx(sum(p == y for p, y in zip(PREDS, LABELS)) / len(PREDS))
    assert out["f1"] == pytest.approx(slow_f1(PREDS, LABELS), rel=1e-6)
    assert out["mcc"] == pytest.approx(slow_mcc(PREDS, LABELS), rel=1e-6)
    # F1 is the positive class's, not the negative class's or a macro average.
    negative = slow_f1([1 - p for p in PREDS], [1 - y for y in LABELS])
    assert abs(out["f1"] - negative) > 0.05


def test_multiclass_mcc_and_accuracy_match_formulas():
    preds = [0, 2, 1, 1, 2, 0, 0, 2, 1, 2, 1, 0, 2, 2, 1]
    labels = [0, 2, 2, 1, 0, 0, 1, 2, 1, 1, 1, 0, 2, 0, 2]
    out = compute(("acc", "mcc"), 3, preds, labels)
    assert out["acc"] == pytest.approx(9 / 15)
    assert out["mcc"] == pytest.approx(slow_mcc(preds, labels), rel=1e-6)


def test_regression_metrics_match_formulas_with_ties():
    g = torch.Generator().manual_seed(0)
    labels = (torch.randint(0, 11, (20,), generator=g) / 2).tolist()  # STS-B-like scores with ties
    preds = [y + float(e) for y, e in zip(labels, torch.randn(20, generator=g) * 1.5)]
    preds[3] = preds[4]  # a tie in the predictions too
    out = compute(("pearson", "spearman"), 1, preds, labels, batches=4)
    assert out["pearson"] == pytest.approx(slow_pearson(preds, labels), rel=1e-5)
    assert out["pearson"] == pytest.approx(stats.pearsonr(preds, labels).statistic, rel=1e-5)
    rank_corr = slow_pearson(average_ranks(preds), average_ranks(labels))
    assert out["spearman"] == pytest.approx(rank_corr, rel=1e-5)
    assert out["spearman"] == pytest.approx(stats.spearmanr(preds, labels).statistic, rel=1e-5)
    assert abs(out["spearman"] - out["pearson"]) > 1e-3


def validate(num_labels: int, names: tuple[str, ...]) -> tuple[dict[str, float], list[float], list[float]]:
    """Run Trainer.validate on a tiny student; return the logged metrics and the predictions/labels."""
    student = tiny_bert(num_labels=num_labels, seed=0)
    with torch.no_grad():  # a sharp random head: mixed predictions, so f1 and mcc say something
        student.classifier.weight.mul_(50)
        student.classifier.bias.zero_()
    module = DistillationModule(student=student, objective=SupervisedObjective(), metrics=names)
    batches = [padded_batch(8, 9, seed=i, num_labels=num_labels) for i in range(4)]
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    logged = trainer.validate(module, DataLoader(batches, batch_size=None), verbose=False)[0]
    student.eval()
    with torch.no_grad():
        preds = [predictions(student(**{k: v for k, v in b.items() if k != "labels"}).logits) for b in batches]
    return logged, torch.cat(preds).tolist(), torch.cat([b["labels"] for b in batches]).tolist()


def test_validation_logs_the_metrics_of_the_students_predictions():
    logged, preds, labels = validate(2, ("acc", "f1", "mcc"))
    assert 0 < sum(preds) < len(preds), "a degenerate predictor would make f1/mcc uninformative"
    assert logged["val/acc"] == pytest.approx(sum(p == y for p, y in zip(preds, labels)) / len(preds), rel=1e-6)
    assert logged["val/f1"] == pytest.approx(slow_f1(preds, labels), rel=1e-5)
    assert logged["val/mcc"] == pytest.approx(slow_mcc(preds, labels), rel=1e-5)


def test_validation_logs_regression_correlations():
    logged, preds, labels = validate(1, ("pearson", "spearman"))
    assert logged["val/pearson"] == pytest.approx(slow_pearson(preds, labels), rel=1e-4)
    spearman = slow_pearson(average_ranks(preds), average_ranks(labels))
    assert logged["val/spearman"] == pytest.approx(spearman, rel=1e-4)


@pytest.mark.parametrize("constant", [0, 1])
def test_mcc_of_a_constant_predictor_is_zero_as_glues_scorer_says(constant):
    """torchmetrics' own MatthewsCorrCoef gives 0.035 for "all acceptable" on CoLA dev's label mix."""
    labels = [1] * 354 + [0] * 162
    out = compute(("mcc",), 2, [constant] * len(labels), labels)
    assert out["mcc"] == 0.0
    assert compute(("mcc",), 2, labels, labels)["mcc"] == pytest.approx(1.0)
    assert compute(("mcc",), 2, [1 - y for y in labels], labels)["mcc"] == pytest.approx(-1.0)
