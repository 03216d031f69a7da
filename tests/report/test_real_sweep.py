"""The report on a real sweep made by run.py: its numbers are the results.json files'."""

from __future__ import annotations

import csv
import json
import statistics

import pytest

from distill_zoo.report.cli import main
from tests.conftest import SWEPT_METHODS, SWEPT_SEEDS


@pytest.mark.slow
def test_report_on_a_real_sweep_equals_the_results_files(real_sweep, capsys):
    assert main([str(real_sweep)]) == 0
    printed = capsys.readouterr().out
    out = real_sweep / "report"
    rows = {r["method"]: r for r in csv.DictReader((out / "summary.csv").open())}
    results = [json.loads(p.read_text()) for p in sorted((real_sweep / "sweep").glob("*/results.json"))]
    assert len(results) == len(SWEPT_METHODS) * len(SWEPT_SEEDS)
    for method in SWEPT_METHODS:
        mine = sorted((r for r in results if r["method"] == method), key=lambda r: r["seed"])
        scores = [r["student"]["metrics"]["acc"] for r in mine]
        row = rows[method]
        assert int(row["n"]) == len(SWEPT_SEEDS)
        assert float(row["mean"]) == pytest.approx(statistics.fmean(scores))
        assert float(row["std"]) == pytest.approx(statistics.stdev(scores))
        assert float(row["teacher"]) == pytest.approx(mine[0]["teacher"]["metrics"]["acc"])
        assert float(row["retention"]) == pytest.approx(statistics.fmean(r["retention"] for r in mine))
        assert float(row["agreement"]) == pytest.approx(statistics.fmean(r["agreement"] for r in mine))
        assert float(row["student_ece"]) == pytest.approx(statistics.fmean(r["student"]["ece"] for r in mine))
        assert float(row["latency_ms"]) == pytest.approx(
            statistics.fmean(r["student"]["latency_ms_median"] for r in mine)
        )
        assert int(row["params"]) == mine[0]["student"]["params"]
    baseline = {r["seed"]: r["student"]["metrics"]["acc"] for r in results if r["method"] == "none"}
    kd = {r["seed"]: r["student"]["metrics"]["acc"] for r in results if r["method"] == "kd"}
    assert float(rows["kd"]["delta"]) == pytest.approx(statistics.fmean(kd[s] - baseline[s] for s in SWEPT_SEEDS))
    assert float(rows["kd"]["ci_low"]) <= float(rows["kd"]["delta"]) <= float(rows["kd"]["ci_high"])
    # The chain's final stage is a row of its own (never merged with single runs) ...
    assert any(r["stage"].startswith("tinybert_two_step") for r in rows.values()) or "tinybert" in rows
    # ... and the job that failed is listed, not a crash.
    assert "failed" in printed and str(real_sweep / "failed") in printed
    for name in ("summary.csv", "summary.md", "scores.png", "pareto.png"):
        assert (out / name).stat().st_size > 0
