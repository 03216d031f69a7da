"""Each row's gain over its baseline row: delta over shared seeds and its CI (:mod:`distill_zoo.report.bootstrap`).

A row's baseline is the row of the ``--baseline`` method (``none`` by default: the
student fine-tuned without a teacher) whose comparable signature equals the row's in
everything but the method fields (:data:`METHOD_FIELDS`): same task, teacher, student and
its initialisation, budget, trainer options, data, optimiser and pipeline stage. A chain's
final stage therefore only finds a baseline run in the same chain. Provenance need not
match: a delta that pairs runs of another commit, library version or machine gets a note
naming it (:func:`distill_zoo.report.provenance.pair_notes`).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from distill_zoo.pipeline.record import differences
from distill_zoo.report.bootstrap import BOOTSTRAP_SEED, paired_ci
from distill_zoo.report.metrics import METRICS, score
from distill_zoo.report.predictions import DevPredictions, read_predictions
from distill_zoo.report.provenance import pair_notes
from distill_zoo.report.rows import Row, signature_key

#: The parts of a comparable signature that make the method; everything else must match the baseline's.
#: ``teacher_signal`` is one: the ``none`` baseline reads no teacher, and whether a method's
#: teacher outputs could be cached depends on what the method reads.
METHOD_FIELDS = ("method", "method_config", "callbacks", "teacher_signal")
#: How far a metric recomputed from predictions.json may be from results.json (float32 there).
REPRODUCE_TOLERANCE = 1e-4
#: The same, relative: perplexities are in the hundreds.
REPRODUCE_RELATIVE = 1e-6


def without_method(signature: dict[str, Any]) -> dict[str, Any]:
    """The signature a row shares with its baseline."""
    return {k: v for k, v in signature.items() if k not in METHOD_FIELDS}


def compare_to_baseline(
    rows: list[Row], baseline: str = "none", replicates: int = 1000, seed: int = BOOTSTRAP_SEED
) -> None:
    """Fill in ``delta``, ``ci_low``, ``ci_high`` and ``is_baseline`` of every row, with a
    note where a row has no baseline, shares only some seeds with it, pairs runs of
    another provenance with it, or has no CI.

    Runs are paired by seed, never by their place in a row's list. One shared seed gives
    no CI (nothing measures the seed noise); ``replicates=0`` skips every CI.
    """
    candidates = [r for r in rows if r.method == baseline]
    keys = {id(r): signature_key(without_method(r.signature)) for r in rows}
    cache: dict[Path, DevPredictions | None] = {}
    for row in rows:
        if row.method == baseline:
            row.is_baseline = True
            row.delta = 0.0 if row.mean is not None else None
            continue
        if row.mean is None:
            continue
        matches = [b for b in candidates if keys[id(b)] == keys[id(row)]]
        if len(matches) != 1:
            row.notes.append(
                _no_baseline(row, baseline, candidates)
                if not matches
                else f"{len(matches)} '{baseline}' rows share this row's teacher/student/budget: "
                f"{', '.join(b.label for b in matches)}; no delta"
            )
            continue
        base = matches[0]
        shared = sorted(set(row.scores) & set(base.scores))
        if not shared:
            row.notes.append(f"no seed in common with '{base.label}' (seeds {row.seeds} vs {base.seeds}); no delta")
            continue
        if len(shared) < max(len(row.scores), len(base.scores)):
            single = "; one seed gives no CI" if len(shared) == 1 and replicates > 0 else ""
            row.notes.append(f"delta over the seeds both have: {shared}{single}")
        row.delta = statistics.fmean(row.scores[s] - base.scores[s] for s in shared)
        records = [{run.record.seed: run.record for run in r.runs} for r in (row, base)]
        paired = pair_notes(row.label, [records[0][s] for s in shared], base.label, [records[1][s] for s in shared])
        row.notes += paired
        row.provenance += paired
        if replicates > 0 and len(shared) > 1:
            interval = _interval(row, base, shared, replicates, seed, cache)
            if interval is not None:
                row.ci_low, row.ci_high = interval


def _interval(
    row: Row, base: Row, shared: list[int], replicates: int, seed: int, cache: dict[Path, DevPredictions | None]
) -> tuple[float, float] | None:
    metric = row.metric
    if metric not in METRICS:
        row.notes.append(f"no CI: {metric} cannot be recomputed from predictions")
        return None
    by_seed = [{run.record.seed: run for run in r.runs} for r in (row, base)]
    method: list[np.ndarray] = []
    baseline: list[np.ndarray] = []
    labels: np.ndarray | None = None
    missing: list[str] = []
    for s in shared:
        for runs, out in zip(by_seed, (method, baseline)):
            run = runs[s]
            try:
                predictions = cache[run.folder] if run.folder in cache else read_predictions(run.folder)
            except (ValueError, KeyError, json.JSONDecodeError) as err:
                row.notes.append(f"no CI: unreadable predictions.json in {run.folder} ({err})")
                return None
            cache[run.folder] = predictions
            if predictions is None:
                missing.append(str(run.folder))
                continue
            if labels is not None and not np.array_equal(labels, predictions.labels):
                row.notes.append(f"no CI: {run.folder} predicted other dev examples than the other runs")
                return None
            labels = predictions.labels
            recomputed, recorded = score(metric, labels, predictions.student), run.record.student.metrics[metric]
            if not (
                math.isclose(recomputed, recorded, rel_tol=REPRODUCE_RELATIVE, abs_tol=REPRODUCE_TOLERANCE)
                or (math.isnan(recomputed) and math.isnan(recorded))
            ):
                row.notes.append(
                    f"no CI: predictions.json in {run.folder} gives {metric} {recomputed:.6f}, "
                    f"its results.json {recorded:.6f}"
                )
                return None
            out.append(predictions.student)
    if missing:
        row.notes.append(f"no CI: no predictions.json in {', '.join(missing)}")
        return None
    assert labels is not None, "shared holds a seed, so some predictions were read"
    interval = paired_ci(metric, labels, np.stack(method), np.stack(baseline), replicates, seed)
    if interval is None:
        row.notes.append(f"no CI: {metric} is undefined on the dev set or on all but one resample")
    return interval


def _no_baseline(row: Row, baseline: str, candidates: list[Row]) -> str:
    note = f"no baseline '{baseline}' with the same teacher/student/budget"
    same_task = [b for b in candidates if b.task == row.task]
    if same_task:
        diffs = min(
            (differences(without_method(b.signature), without_method(row.signature)) for b in same_task), key=len
        )
        keys = [line.split(": ", 1)[0] for line in diffs]
        note += f" (the nearest differs in {', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''})"
    return note
