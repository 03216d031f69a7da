"""Confidence interval of a method's gain over its baseline, over seeds and dev examples.

The quantity. ``theta`` is the expected gain (method score - baseline score) of a training
seed (initialisation, data order, dropout) on the population the dev examples are drawn
from. The teacher, the student's initialisation, the budget and the gold labels are held
fixed. Its estimate is the mean of ``d_s`` over the k seeds s_1..s_k that both rows have
run, where ``d_s`` is method minus baseline with seed s on the full dev set (every run of a
task predicts the same n dev examples, in the same order; pairs are matched by seed).

Two noises move that mean. Write ``d_s = D + e_s``: ``D`` is what every seed's difference
shares through the dev set drawn (the examples both students find easy or hard alike),
``e_s`` what one seed's runs add (their logit shift, their examples right or wrong by
chance). Then ``Var(mean d) = Var(e)/k + Var(D)``, and

* ``var_seed``, the sample variance of ``d_s`` over the seeds, estimates ``Var(e)``: ``D``
  cancels in ``d_s - mean d``;
* ``var_dev`` estimates ``Var(D)`` as the covariance of two distinct seeds' differences
  over resamples of the dev examples (with replacement, the same indices for the method,
  the baseline and every seed), averaged over the k(k-1) ordered pairs of seeds. One seed's
  own noise is not shared by another seed, so it is not counted twice; the variance of the
  seed-averaged difference would count it again (``Var(e)/k`` is in ``var_seed`` already).

The interval is ``mean d ± t_{k-1} sqrt(var_seed/k + var_dev)`` (Student's t with k - 1
degrees of freedom at ``level``, 0.95 by default). With one seed there is no interval:
nothing measures the seed noise. Applying the seeds' t quantile to the well-measured
``var_dev`` as well errs on the wide side where dev noise dominates (coverage 0.985 at
three seeds there); a Satterthwaite quantile in its place came within 0.004 of the 0.93
this project asks for at three seeds. In simulation (872 examples of latent difficulty,
a per-run shift, a seed sd of accuracy of 0.003, 0.009 and 0.014, 1,000 experiments
each, ``tests/report/test_coverage.py``) the interval covered ``theta`` in 0.956-0.985
of experiments at k = 3, 5 and 10. The percentile interval of a bootstrap over seeds and
examples that the report gave before covered 0.85 and 0.80 at k = 3 and seed sd 0.009 and
0.014: three seeds drawn with replacement spread less than three fresh seeds, and its
normal-like tails ignore that the seed variance is estimated from three values.

How ``var_dev`` is computed. For accuracy, a mean over examples of a per-example score,
exactly: the covariance of the per-example differences of two seeds over the n examples,
divided by n (what infinitely many resamples give). Every other metric (f1, mcc, pearson,
spearman, perplexity) is not a mean over examples; it is recomputed on R resamples
(``--bootstrap``, 1000 by default) drawn by numpy's ``default_rng`` with a fixed seed (0),
in chunks of :data:`CHUNK` drawn whole, so the same runs always give the same interval (and
the first R resamples do not depend on the total). Resamples where the metric is undefined
(NaN) are left out. Causal-LM rows resample held-out blocks in place of dev examples: every
run of a corpus scores the same blocks (the held-out split is seeded by ``split_seed``, not
the run seed), and each resample recomputes a student's perplexity from its per-block NLL
sums (``ppl_heldout`` in :mod:`distill_zoo.report.metrics`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
from scipy import stats

from distill_zoo.report.metrics import weighted_scores

#: Resamples drawn at once: bounds memory to CHUNK x dev size, and fixes the random stream.
CHUNK = 250
#: The default seed of the bootstrap's random generator.
BOOTSTRAP_SEED = 0


def resample_weights(n_examples: int, replicates: int, seed: int = BOOTSTRAP_SEED) -> Iterator[np.ndarray]:
    """(c, n_examples) how often each dev example is drawn in each of the next c resamples."""
    rng = np.random.default_rng(seed)
    for start in range(0, replicates, CHUNK):
        # Always draw a full chunk: the first R resamples are the same whatever the total.
        indices = rng.integers(0, n_examples, (CHUNK, n_examples))[: min(CHUNK, replicates - start)]
        offsets = n_examples * np.arange(len(indices))[:, None]
        yield np.bincount((indices + offsets).ravel(), minlength=indices.size).reshape(indices.shape)


def seed_differences(
    metric: str, labels: np.ndarray, method: np.ndarray, baseline: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """(R, S) method minus baseline of each seed (a row of ``method``/``baseline``, (S, N))
    on each resample (a row of ``weights``, (R, N))."""
    return np.stack(
        [
            weighted_scores(metric, labels, m, weights) - weighted_scores(metric, labels, b, weights)
            for m, b in zip(method, baseline)
        ],
        axis=1,
    )


def shared_covariance(values: np.ndarray, ddof: int) -> np.ndarray:
    """The mean over ordered pairs of distinct seeds of their covariance along the last axis.

    Args:
        values: (..., S, M) S >= 2 seeds, M observations each (examples or resamples).
        ddof: 0 for the covariance of a finite set (examples), 1 for a sample (resamples).

    Returns:
        (...) ``sum_{s != t} cov(values_s, values_t) / (S (S - 1))``.
    """
    centred = values - values.mean(-1, keepdims=True)
    total = centred.sum(-2)
    pairs = (total * total).sum(-1) - (centred * centred).sum((-2, -1))
    seeds, count = values.shape[-2], values.shape[-1]
    return np.asarray(pairs / ((count - ddof) * seeds * (seeds - 1)))


def dev_variance(
    metric: str,
    labels: np.ndarray,
    method: np.ndarray,
    baseline: np.ndarray,
    replicates: int = 1000,
    seed: int = BOOTSTRAP_SEED,
) -> float | None:
    """``var_dev`` of this module (at least 0) from R resamples of the dev examples, for
    any metric, from (S, N) predictions of S >= 2 seeds (:func:`paired_ci` takes
    accuracy's exact value, :func:`accuracy_dev_variance`, instead). Resamples where a
    seed's metric is NaN are left out; None where fewer than two remain."""
    per_seed = [
        seed_differences(metric, labels, method, baseline, w) for w in resample_weights(len(labels), replicates, seed)
    ]
    drawn = np.concatenate(per_seed) if per_seed else np.empty((0, len(method)))
    drawn = drawn[~np.isnan(drawn).any(1)]
    if len(drawn) < 2:
        return None
    return max(0.0, float(shared_covariance(drawn.T, ddof=1)))


def correct_differences(labels: np.ndarray, method: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """(S, N) per seed and example, method right minus baseline right (-1, 0 or 1)."""
    return (method == labels).astype(np.float64) - (baseline == labels)


def accuracy_dev_variance(differences: np.ndarray) -> float:
    """``var_dev`` of accuracy from (S, N) :func:`correct_differences`: the bootstrap's
    limit, as accuracy is a mean over examples."""
    return max(0.0, float(shared_covariance(differences, ddof=0)) / differences.shape[-1])


@functools.lru_cache(maxsize=64)
def t_quantile(probability: float, degrees: int) -> float:
    """Student's t quantile (cached: a report asks for few distinct seed counts)."""
    return float(stats.t.ppf(probability, degrees))


def t_interval(
    differences: np.ndarray, dev_var: np.ndarray | float, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """``mean d ± t_{k-1} sqrt(var_seed / k + var_dev)`` of (..., k) per-seed differences
    (k >= 2) and (...) dev variances; arrays of the leading shape."""
    differences = np.asarray(differences, dtype=np.float64)
    k = differences.shape[-1]
    if k < 2:
        raise ValueError("an interval over seeds needs at least two seeds")
    half = t_quantile(0.5 + level / 2, k - 1) * np.sqrt(differences.var(-1, ddof=1) / k + dev_var)
    centre = differences.mean(-1)
    return centre - half, centre + half


def paired_ci(
    metric: str,
    labels: np.ndarray,
    method: np.ndarray,
    baseline: np.ndarray,
    replicates: int = 1000,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """The ``level`` interval of this module from the predictions of the shared seeds.

    Args:
        metric: the task metric (see :mod:`distill_zoo.report.metrics`).
        labels: (N,) gold labels of the dev examples.
        method: (S, N) the method's predictions, one row per shared seed.
        baseline: (S, N) the baseline's predictions with the same seed in the same row.
        replicates: R, the resamples of dev examples (metrics other than accuracy).
        seed: the random generator's seed.

    Returns:
        ``(low, high)``, or None with one seed or where the metric is undefined on the full
        dev set or on all but one resample.
    """
    method, baseline = np.atleast_2d(method), np.atleast_2d(baseline)
    if method.shape != baseline.shape or method.shape[1] != len(labels):
        raise ValueError(f"predictions must be (seeds, {len(labels)}) for both: {method.shape} vs {baseline.shape}")
    if len(method) < 2:
        return None
    dev_var: float | None
    if metric == "acc":  # one pass over the predictions serves both parts
        correct = correct_differences(labels, method, baseline)
        differences, dev_var = correct.mean(1), accuracy_dev_variance(correct)
    else:
        differences = seed_differences(metric, labels, method, baseline, np.ones((1, len(labels))))[0]
        dev_var = dev_variance(metric, labels, method, baseline, replicates, seed)
    if dev_var is None or np.isnan(differences).any():
        return None
    low, high = t_interval(differences, dev_var, level)
    return float(low), float(high)
