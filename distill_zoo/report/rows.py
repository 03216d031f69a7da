"""One table row per (task, method configuration): the runs of its seeds, aggregated.

Runs share a row only when their full :meth:`RunRecord.comparable` signatures are equal,
i.e. they differ in nothing but the seed and their provenance (commit, library versions,
hardware: a difference there is merged with a note naming it, see
:mod:`distill_zoo.report.provenance`); runs that differ in anything else get rows of
their own, labelled by what differs. Only the final stage of each pipeline is compared.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.record import RunRecord, differences
from distill_zoo.pipeline.report import retention
from distill_zoo.report.provenance import seed_notes


@dataclass(frozen=True)
class Run:
    """A run's record and the folder its results.json (and predictions.json) live in."""

    record: RunRecord
    folder: Path


@dataclass
class Row:
    """The seeds of one method configuration on one task.

    Scores are the student's ``metric`` on dev; ``mean`` and the sample ``std`` run over
    seeds (std 0 with one seed). ``delta``/``ci_low``/``ci_high`` compare with the baseline
    row (filled in by :func:`distill_zoo.report.baseline.compare_to_baseline`). Every other
    number is the mean over the seeds that recorded it.

    Attributes:
        method / label: the method option, and the row's name in the table (the option plus
            what sets it apart from other rows of that option, see :func:`label_rows`).
        stage: ``run`` for a single run, ``<pipeline>/<stage>`` for a chain's final stage.
        runs / signature: the runs of the row's seeds and their shared
            :meth:`RunRecord.comparable` (empty in a row read back from a ``summary.csv``,
            :func:`distill_zoo.report.summary_csv.read_summary_csv`).
        scores: the student's ``metric`` by seed.
        seeds: the seeds of its runs, ascending (a seed without ``metric`` has no score).
        teacher / retention: the teacher's dev score; student / teacher per seed.
        latency_ms / speedup: student batch-1 CPU latency (median); teacher / student latency.
        agreement: share of dev examples where student and teacher predict one class
            (regression: Pearson correlation of their predictions).
        teacher_ece / student_ece: expected calibration error on dev (None for regression).
        losses: the final value of each logged loss term, ``loss`` (total) and ``loss_<term>``.
        test_mean / test_teacher: the student's and teacher's ``metric`` on the extra test file.
        steps: the distinct optimiser step counts of the seeds (more than one: unequal budgets).
        notes: what a reader must know to trust the row's numbers (printed under the table).
        provenance: the notes that name a provenance field in which the runs this row merges
            (its seeds) or pairs (its delta's baseline runs) differ; ``--strict`` refuses them.
    """

    task: str
    method: str
    label: str
    stage: str
    metric: str | None
    runs: list[Run] = field(repr=False)
    signature: dict[str, Any] = field(repr=False)
    scores: dict[int, float]
    seeds: list[int]
    mean: float | None
    std: float | None
    teacher: float | None
    retention: float | None
    params: int
    latency_ms: float | None
    speedup: float | None
    teacher_params: int
    teacher_latency_ms: float | None
    agreement: float | None
    teacher_ece: float | None
    student_ece: float | None
    losses: dict[str, float]
    test_mean: float | None
    test_teacher: float | None
    steps: list[Any]
    teacher_entry: str | None
    student_init: str
    is_baseline: bool = False
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    notes: list[str] = field(default_factory=list)
    provenance: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.seeds)


def signature_key(signature: dict[str, Any]) -> str:
    """A hashable, order-independent form of a comparable signature."""
    return json.dumps(signature, sort_keys=True, default=str)


def build_rows(runs: list[Run], metric: str | None = None) -> list[Row]:
    """Rows of the final-stage runs, grouped by their full comparable signature and
    labelled apart where one task has several configurations of one method.

    ``metric`` overrides each task's main metric. Raises :class:`ConfigError` when one
    configuration holds a seed twice.
    """
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.record.stage.final:
            groups[signature_key(run.record.comparable())].append(run)
    rows = [aggregate(group, metric) for group in groups.values()]
    label_rows(rows)
    return sorted(rows, key=lambda r: (r.task, r.label))


def aggregate(runs: list[Run], metric: str | None = None) -> Row:
    """The row of the seeds of one configuration (their signatures must be equal)."""
    runs = sorted(runs, key=lambda run: run.record.seed)
    records = [run.record for run in runs]
    first = records[0]
    seeds = [r.seed for r in records]
    if len(set(seeds)) != len(seeds):
        folders = [str(run.folder) for run in runs if seeds.count(run.record.seed) > 1]
        raise ConfigError(
            f"{first.method} on {first.task or first.corpus} has seed(s) counted twice: {seeds} "
            f"(runs {', '.join(folders)}); keep one run per seed"
        )
    # Task runs: the chosen metric; causal-LM runs: their perplexity; general runs: none.
    metric = (metric or first.main_metric) if first.task else first.main_metric
    scored = [r for r in records if metric is not None and metric in r.student.metrics]
    scores = {r.seed: r.student.metrics[metric] for r in scored if metric is not None}
    mixed = seed_notes(records)
    notes = mixed + _test_notes([r.test for r in records if r.test], len(records)) + _latency_notes(records)
    if metric is not None and len(scored) < len(records):
        missing = sorted(set(seeds) - set(scores))
        notes.insert(
            len(mixed),
            f"no {metric!r} in the results of seed(s) {missing} "
            f"(they report {', '.join(sorted(records[seeds.index(missing[0])].student.metrics))})",
        )
    values = list(scores.values())
    tests = [r.test for r in records if r.test]
    pipeline, stage = first.stage.pipeline, first.stage.name
    return Row(
        task=first.task or f"corpus:{Path(str(first.corpus)).name}",  # the path is in results.json
        method=first.method,
        label=first.method,
        stage=stage if pipeline == "single" else f"{pipeline}/{stage}",
        metric=metric,
        runs=runs,
        signature=first.comparable(),
        scores=scores,
        seeds=seeds,
        mean=statistics.fmean(values) if values else None,
        std=(statistics.stdev(values) if len(values) > 1 else 0.0) if values else None,
        teacher=_mean(r.teacher.metrics.get(metric) for r in records) if metric else None,
        retention=_mean(retention(r.student.metrics, r.teacher.metrics, metric) for r in scored if metric is not None),
        params=first.student.params,
        latency_ms=_mean(r.student.latency_ms_median for r in records),
        speedup=_mean(r.speedup for r in records),
        teacher_params=first.teacher.params,
        teacher_latency_ms=_mean(r.teacher.latency_ms_median for r in records),
        agreement=_mean(r.agreement for r in records),
        teacher_ece=_mean(r.teacher.ece for r in records),
        student_ece=_mean(r.student.ece for r in records),
        losses=_mean_losses(records),
        test_mean=_mean(t.get("student", {}).get(metric) for t in tests) if metric else None,
        test_teacher=_mean(t.get("teacher", {}).get(metric) for t in tests) if metric else None,
        steps=sorted({r.budget.get("steps_done") for r in records}, key=lambda v: (v is None, v or 0)),
        teacher_entry=first.teacher_entry,
        student_init=first.student_init,
        notes=notes,
        provenance=mixed,
    )


def label_rows(rows: list[Row]) -> None:
    """Give rows that share a task and a method name labels that say how they differ.

    Every field where the rows' signatures differ is shown with the row's value, unless
    a strict majority of those rows holds that value: of three ``distilbert`` rows, one
    as configured, one with ``method_config.weights.cos=0.0`` and one with
    ``student_init=random``, the labels are ``distilbert``,
    ``distilbert [method_config.weights.cos=0.0]`` and ``distilbert [student_init=random]``.
    Two rows that differ always get two labels.
    """
    by_method: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        by_method[(row.task, row.method)].append(row)
    for same in by_method.values():
        if len(same) < 2:
            continue
        reference = same[0].signature
        keys = sorted({line.split(": ", 1)[0] for row in same[1:] for line in differences(reference, row.signature)})
        shown: dict[int, list[str]] = {id(row): [] for row in same}
        for key in keys:
            values = [_show(_lookup(row.signature, key)) for row in same]
            for row, value in zip(same, values):
                if 2 * values.count(value) <= len(same):
                    shown[id(row)].append(f"{key}={value}")
        for row in same:
            row.label = f"{row.method} [{', '.join(shown[id(row)])}]" if shown[id(row)] else row.method


def loss_column(key: str) -> str | None:
    """``train/loss`` -> ``loss``, ``train/loss_kd`` -> ``loss_kd``; None for other logged values."""
    name = key.removeprefix("train/")
    return name if name == "loss" or name.startswith("loss_") else None


def _mean_losses(records: list[RunRecord]) -> dict[str, float]:
    values: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for key, value in r.final_losses.items():
            if (column := loss_column(key)) is not None:
                values[column].append(float(value))
    return {column: statistics.fmean(v) for column, v in sorted(values.items())}


def _latency_notes(records: list[RunRecord]) -> list[str]:
    """A note when the latency behind the row's speedup was flagged unstable in some run."""
    unstable = sum(1 for r in records if r.teacher.latency_unstable or r.student.latency_unstable)
    if not unstable:
        return []
    return [
        f"latency unstable in {unstable} of {len(records)} runs (p90/median or the two halves' medians "
        "disagree): the speedup is not a figure to quote; time with python -m distill_zoo.bench on an idle CPU"
    ]


def _test_notes(tests: list[dict[str, Any]], runs: int) -> list[str]:
    notes = []
    if tests and len(tests) < runs:
        notes.append(f"test_mean over {len(tests)} of {runs} seeds (the others have no test file)")
    files = sorted({str(t.get("file")) for t in tests})
    if len(files) > 1:
        notes.append(f"seeds were tested on different files: {', '.join(files)}")
    return notes


def _mean(values) -> float | None:
    present = [float(v) for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _lookup(mapping: Any, dotted: str) -> Any:
    """The value at a dotted key of :func:`differences` (None where absent, as there);
    a key that itself holds dots is found too."""
    if dotted in (mapping if isinstance(mapping, dict) else {}):
        return mapping[dotted]
    parts = dotted.split(".")
    for cut in range(1, len(parts)):
        head = ".".join(parts[:cut])
        if isinstance(mapping, dict) and head in mapping:
            return _lookup(mapping[head], ".".join(parts[cut:]))
    return None


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
