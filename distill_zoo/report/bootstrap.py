"""Paired bootstrap confidence interval of a method's gain over its baseline.

What is resampled. Take a row (one method configuration) and its baseline row, the k
seeds s_1..s_k that both have run, and, for each of those seeds and both rows, the
student's prediction for every one of the n dev examples (``predictions.json``; every
run of a task predicts the same dev examples in the same order). One bootstrap replicate

1. draws k seeds from {s_1..s_k} uniformly with replacement (a seed drawn twice counts
   twice); a drawn seed s brings the method's run with seed s and the baseline's run with
   seed s, as a pair;
2. draws n dev example indices from 0..n-1 uniformly with replacement; the same indices
   serve the method and the baseline, and every seed drawn in this replicate;
3. for each drawn seed, recomputes the task metric (acc, f1, mcc, pearson or spearman,
   defined as torchmetrics defines them) of the method's student and of the baseline's
   student on the drawn examples, each from that seed's predictions, and takes method
   minus baseline;
4. averages that difference over the k drawn seeds.

The interval is the 2.5th and 97.5th percentiles of R such replicate averages (R =
``--bootstrap``, 1000 by default). Replicates are drawn by numpy's ``default_rng`` with a
fixed seed (0), in chunks of :data:`CHUNK` drawn whole, so the same runs always give the
same interval (and the first R replicates do not depend on the total). The interval
covers two sources of noise: the training seed (initialisation, data order, dropout) and
the finite dev set. The teacher, the student's initialisation, the budget and the gold
labels are held fixed. The point estimate ``delta`` is not a bootstrap statistic: it is
the mean over the shared seeds of (method score - baseline score) on the full dev set,
from ``results.json``. Where seeds err on unrelated examples, the differences between
seeds already carry dev-set noise, which step 2 adds again: the interval then errs on
the wide side (in simulation, 100 of 100 intervals covered the true difference).

Causal-LM runs are resampled the same way with held-out blocks in place of dev
examples: every run of a corpus scores the same blocks (the held-out split is seeded by
``split_seed``, not the run seed), and step 3 recomputes each student's perplexity on the
drawn blocks from its per-block NLL sums (``ppl_heldout`` in :mod:`distill_zoo.report.metrics`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from distill_zoo.report.metrics import weighted_scores

#: Replicates drawn at once: bounds memory to CHUNK x dev size, and fixes the random stream.
CHUNK = 250
#: The default seed of the bootstrap's random generator.
BOOTSTRAP_SEED = 0


def resamples(
    n_seeds: int, n_examples: int, replicates: int, seed: int = BOOTSTRAP_SEED
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The bootstrap's draws, :data:`CHUNK` replicates at a time.

    Yields:
        ``(seed_picks, example_indices)``: (c, n_seeds) positions into the shared seeds,
        and (c, n_examples) dev example indices, for the next c replicates.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, replicates, CHUNK):
        # Always draw a full chunk: the first R replicates are the same whatever the total.
        count = min(CHUNK, replicates - start)
        picks, indices = rng.integers(0, n_seeds, (CHUNK, n_seeds)), rng.integers(0, n_examples, (CHUNK, n_examples))
        yield picks[:count], indices[:count]


def bootstrap_differences(
    metric: str,
    labels: np.ndarray,
    method: np.ndarray,
    baseline: np.ndarray,
    replicates: int = 1000,
    seed: int = BOOTSTRAP_SEED,
) -> np.ndarray:
    """The replicate statistics of the paired bootstrap described in this module.

    Args:
        metric: the task metric (see :mod:`distill_zoo.report.metrics`).
        labels: (N,) gold labels of the dev examples.
        method: (S, N) the method's predictions, one row per shared seed.
        baseline: (S, N) the baseline's predictions for the same seeds, in the same order.
        replicates: R.
        seed: the random generator's seed.

    Returns:
        (R,) the mean over the drawn seeds of (method - baseline) in each replicate.
    """
    method, baseline = np.atleast_2d(method), np.atleast_2d(baseline)
    if method.shape != baseline.shape or method.shape[1] != len(labels):
        raise ValueError(f"predictions must be (seeds, {len(labels)}) for both: {method.shape} vs {baseline.shape}")
    n_seeds, n_examples = method.shape
    out = []
    for seed_picks, indices in resamples(n_seeds, n_examples, replicates, seed):
        offsets = n_examples * np.arange(len(indices))[:, None]
        weights = np.bincount((indices + offsets).ravel(), minlength=indices.size).reshape(indices.shape)
        per_seed = np.stack(
            [
                weighted_scores(metric, labels, method[s], weights)
                - weighted_scores(metric, labels, baseline[s], weights)
                for s in range(n_seeds)
            ],
            axis=1,
        )
        out.append(np.take_along_axis(per_seed, seed_picks, axis=1).mean(1))
    return np.concatenate(out) if out else np.empty(0)


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """The central ``level`` percentile interval of ``values`` (NaNs ignored); None if all are NaN."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or np.isnan(values).all():
        return None
    tail = 50.0 * (1.0 - level)
    low, high = np.nanpercentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_bootstrap_ci(
    metric: str,
    labels: np.ndarray,
    method: np.ndarray,
    baseline: np.ndarray,
    replicates: int = 1000,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """The ``level`` percentile interval of :func:`bootstrap_differences`."""
    return percentile_interval(bootstrap_differences(metric, labels, method, baseline, replicates, seed), level)
