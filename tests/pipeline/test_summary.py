"""Sweep summaries: mean and sample spread over seeds per method."""

from __future__ import annotations

import json
import statistics

import pytest

from distill_zoo.pipeline.summary import collect_results, format_summary, summarize


def fake_run(root, name, method, seed, acc, teacher="t1"):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({
        "task": "sst2", "method": method, "seed": seed, "main_metric": "acc", "retention": acc / 0.9,
        "student": {"metrics": {"acc": acc}}, "teacher": {"metrics": {"acc": 0.9}, "path": teacher},
        "config": {"huge": "x"},
    }))


def test_mean_and_spread_over_seeds(tmp_path):
    for i, (m, s, a) in enumerate([("kd", 1, 0.80), ("kd", 2, 0.84), ("kd", 3, 0.83), ("none", 1, 0.7)]):
        fake_run(tmp_path, f"{i}", m, s, a)
    rows = {r["method"]: r for r in summarize(collect_results(tmp_path))}
    assert rows["kd"]["mean"] == pytest.approx(statistics.fmean([0.80, 0.84, 0.83]))
    assert rows["kd"]["std"] == pytest.approx(statistics.stdev([0.80, 0.84, 0.83]))
    assert rows["kd"]["seeds"] == [1, 2, 3] and rows["none"]["std"] == 0.0
    assert rows["kd"]["same_teacher"]
    assert "kd" in format_summary(list(rows.values()))


def test_different_teachers_are_flagged(tmp_path):
    fake_run(tmp_path, "a", "kd", 1, 0.8, teacher="t1")
    fake_run(tmp_path, "b", "none", 1, 0.7, teacher="t2")
    rows = summarize(collect_results(tmp_path))
    assert not any(r["same_teacher"] for r in rows)
    assert "different teachers" in format_summary(rows)
