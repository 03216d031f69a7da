"""Task metrics recomputed from per-example predictions, for many resamples at once.

A resample is a row of weights over the dev examples: ``weights[r, i]`` is how many
times example ``i`` was drawn in resample ``r`` (a row of ones is the full dev set).
Every metric is a function of weighted sums, so R resamples cost a few matrix products
instead of R passes over the data. The definitions are torchmetrics' as
:func:`distill_zoo.training.metrics.build_metrics` configures them, so that the full-dev
value equals the one in ``results.json`` (up to float32 rounding there):

* ``acc``: ``MulticlassAccuracy(average="micro")``, the share of correct predictions.
* ``f1``: ``BinaryF1Score``, F1 of class 1; 0 when there is no true nor predicted positive.
* ``mcc``: :class:`~distill_zoo.training.metrics.GlueMatthewsCorrCoef`, Gorodkin's R_K over
  the confusion matrix C, ``(c s - sum_k t_k p_k) / sqrt((s^2 - sum_k p_k^2)(s^2 - sum_k t_k^2))``,
  0 when the denominator is 0 (a constant predictor), as GLUE's scorer.
* ``pearson``: ``PearsonCorrCoef``; NaN where either side is constant.
* ``spearman``: ``SpearmanCorrCoef``, the Pearson correlation of ranks (ties get their
  mean rank), ``cov / (std_x std_y + 1e-6)``, clamped to [-1, 1].
* ``ppl_heldout``: causal-LM held-out perplexity. Its "examples" are held-out blocks, its
  "labels" each block's number of target tokens and its "predictions" each block's sum of
  next-token NLLs (:func:`distill_zoo.pipeline.lm_eval.sequence_nll`), so a resample's
  perplexity is ``exp(sum_i w_i nll_i / sum_i w_i tokens_i)``. Lower is better.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

METRICS = ("acc", "f1", "mcc", "pearson", "spearman", "ppl_heldout")

#: torchmetrics' SpearmanCorrCoef adds this to the denominator.
_SPEARMAN_EPS = 1e-6


def score(metric: str, labels: np.ndarray, predicted: np.ndarray) -> float:
    """``metric`` of ``predicted`` against ``labels`` (both (N,)) on the full set."""
    return float(weighted_scores(metric, labels, predicted, np.ones((1, len(labels))))[0])


def weighted_scores(metric: str, labels: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``metric`` on each resample.

    Args:
        metric: one of :data:`METRICS`.
        labels: (N,) gold class ids, or gold scores for regression.
        predicted: (N,) predicted class ids, or predicted scores.
        weights: (R, N) how often each example is in each resample.

    Returns:
        (R,) the metric of each resample.
    """
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if labels.shape != predicted.shape or weights.shape[1] != labels.shape[0]:
        raise ValueError(f"shapes differ: labels {labels.shape}, predicted {predicted.shape}, weights {weights.shape}")
    if metric in _FROM_CONFUSION:
        return _FROM_CONFUSION[metric](weighted_confusion(labels, predicted, weights))
    if metric == "pearson":
        return _pearson(predicted.astype(np.float64), labels.astype(np.float64), weights)
    if metric == "spearman":
        return _spearman(predicted.astype(np.float64), labels.astype(np.float64), weights)
    if metric == "ppl_heldout":
        return np.exp((weights @ predicted.astype(np.float64)) / (weights @ labels.astype(np.float64)))
    raise ValueError(f"cannot recompute {metric!r} from predictions; known metrics: {', '.join(METRICS)}")


def weighted_confusion(labels: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(R, C, C) weighted confusion matrices, rows = gold class, columns = predicted class.

    C is the largest class id seen plus one, at least 2 (as ``max(num_labels, 2)``)."""
    labels, predicted = labels.astype(np.int64), predicted.astype(np.int64)
    classes = max(2, int(max(labels.max(initial=0), predicted.max(initial=0))) + 1)
    onehot = np.zeros((labels.shape[0], classes * classes))
    onehot[np.arange(labels.shape[0]), labels * classes + predicted] = 1.0
    return (weights @ onehot).reshape(-1, classes, classes)


def _accuracy(confusion: np.ndarray) -> np.ndarray:
    return np.trace(confusion, axis1=1, axis2=2) / confusion.sum(axis=(1, 2))


def _f1(confusion: np.ndarray) -> np.ndarray:
    if confusion.shape[1] != 2:
        raise ValueError(f"f1 is binary (class 1 positive), the predictions have {confusion.shape[1]} classes")
    tp, fp, fn = confusion[:, 1, 1], confusion[:, 0, 1], confusion[:, 1, 0]
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def _mcc(confusion: np.ndarray) -> np.ndarray:
    gold, pred = confusion.sum(axis=2), confusion.sum(axis=1)
    correct, total = np.trace(confusion, axis1=1, axis2=2), confusion.sum(axis=(1, 2))
    numerator = correct * total - (gold * pred).sum(1)
    denominator = (total**2 - (pred * pred).sum(1)) * (total**2 - (gold * gold).sum(1))
    return np.divide(numerator, np.sqrt(denominator), out=np.zeros_like(numerator), where=denominator > 0)


def _pearson(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    # Centre on the full-set means first: the weighted moments then cancel less.
    x, y = x - x.mean(), y - y.mean()
    n = weights.sum(1)
    sx, sy = weights @ x, weights @ y
    var_x = weights @ (x * x) - sx * sx / n
    var_y = weights @ (y * y) - sy * sy / n
    cov = weights @ (x * y) - sx * sy / n
    constant = _constant(x, weights) | _constant(y, weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.clip(cov / np.sqrt(var_x * var_y), -1.0, 1.0)
    return np.where(constant, np.nan, r)


def _constant(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    drawn = weights > 0
    return np.where(drawn, values, np.inf).min(1) == np.where(drawn, values, -np.inf).max(1)


def _spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    rx, ry = tied_ranks(x, weights), tied_ranks(y, weights)
    n = weights.sum(1, keepdims=True)
    dx = rx - (weights * rx).sum(1, keepdims=True) / n
    dy = ry - (weights * ry).sum(1, keepdims=True) / n
    cov = (weights * dx * dy).sum(1) / n[:, 0]
    std_x = np.sqrt((weights * dx * dx).sum(1) / n[:, 0])
    std_y = np.sqrt((weights * dy * dy).sum(1) / n[:, 0])
    return np.clip(cov / (std_x * std_y + _SPEARMAN_EPS), -1.0, 1.0)


def tied_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(R, N) the 1-based rank each example's value has within each resample, tied values
    (copies of one example included) sharing their mean rank."""
    _, group = np.unique(values, return_inverse=True)
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
    counts = np.add.reduceat(weights[:, order], starts, axis=1)
    below = np.cumsum(counts, axis=1) - counts
    return (below + (counts + 1) / 2)[:, group]


_FROM_CONFUSION: dict[str, Callable[[np.ndarray], np.ndarray]] = {"acc": _accuracy, "f1": _f1, "mcc": _mcc}
