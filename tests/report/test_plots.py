"""The report's figures: the Pareto front follows each metric's direction."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from distill_zoo.pipeline.record import ModelReport
from distill_zoo.report import Run, build_rows, pareto_figure, pareto_front
from tests.report.synthetic import record

#: Per method: (student batch-1 latency in ms, dev score).
LATENCY_AND_SCORE = {"a": (1.0, 100.0), "b": (2.0, 80.0), "c": (3.0, 120.0), "d": (4.0, 60.0), "e": (5.0, 90.0)}


def rows_with(metric: str) -> list:
    """One single-seed row per method of :data:`LATENCY_AND_SCORE`, scored on ``metric``
    (a causal-LM corpus run for a perplexity, an sst2 run otherwise)."""
    runs = []
    for method, (latency, value) in LATENCY_AND_SCORE.items():
        base = record(method, 1)
        student = ModelReport(path="s", metrics={metric: value}, params=1000, latency_ms_median=latency)
        teacher = ModelReport(path="t", metrics={metric: 50.0}, params=4000, latency_ms_median=10.0)
        if metric.startswith("ppl"):
            base = replace(base, task=None, corpus="rt.txt", test=None)
        runs.append(Run(replace(base, main_metric=metric, student=student, teacher=teacher), Path(method)))
    return build_rows(runs)


def drawn_front(rows: list) -> tuple[list[str], str]:
    """The labels of the rows on the drawn Pareto front, by increasing cost, and the y label."""
    (ax,) = pareto_figure(rows, "latency").axes
    (line,) = [line for line in ax.get_lines() if line.get_label() == "Pareto front"]
    by_point = {(row.latency_ms, row.mean): row.label for row in rows}
    return [by_point[point] for point in zip(line.get_xdata(), line.get_ydata())], ax.get_ylabel()


def test_the_front_of_a_perplexity_joins_the_low_values():
    labels, ylabel = drawn_front(rows_with("ppl_heldout"))
    assert labels == ["a", "b", "d"]  # 100, 80, 60: each cheaper point has a higher perplexity
    assert ylabel == "dev ppl_heldout (lower is better; mean over seeds)"


def test_the_front_of_a_higher_is_better_metric_joins_the_high_values():
    labels, ylabel = drawn_front(rows_with("acc"))
    assert labels == ["a", "c"]
    assert ylabel == "dev acc (mean over seeds)"


def test_pareto_front_mirrors_with_the_direction():
    costs, quality = [1.0, 2.0, 2.0, 3.0, 4.0, 5.0], [50.0, 40.0, 30.0, 35.0, 20.0, 20.0]
    assert pareto_front(costs, quality, higher_is_better=False) == [0, 2, 4]  # a tie goes to the cheaper
    assert pareto_front(costs, quality, higher_is_better=True) == [0]
    assert pareto_front(costs, [-q for q in quality], higher_is_better=True) == [0, 2, 4]
