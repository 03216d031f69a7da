"""The printed table: a single seed shows its score and gain with no spread or interval."""

from __future__ import annotations

from distill_zoo.report import build_report, terminal_text
from distill_zoo.report.tables import MAIN
from tests.report.synthetic import simulated_sweep


def _cells(tmp_path, seeds):
    simulated_sweep(tmp_path, {"none": 0.8, "kd": 0.86}, seeds=seeds, n=300)
    report = build_report([tmp_path], replicates=100)
    return report, {r.method: {name: cell(r) for name, cell in MAIN.items()} for r in report.rows}


def test_a_single_seed_prints_no_spread_and_no_interval(tmp_path):
    report, cells = _cells(tmp_path, seeds=(1,))
    kd, none = cells["kd"], cells["none"]
    assert kd["mean ± std"] == f"{report.rows[1].mean:.4f} (1 seed)" and none["mean ± std"].endswith(" (1 seed)")
    assert kd["delta [95% CI]"] == f"{report.rows[1].delta:+.4f} (1 seed)"
    assert "±" not in kd["mean ± std"] + none["mean ± std"] and "[" not in kd["delta [95% CI]"]
    assert "0.0000" not in terminal_text(report).split("\n", 2)[2]


def test_several_seeds_print_the_spread_and_the_interval(tmp_path):
    report, cells = _cells(tmp_path, seeds=(1, 2, 3))
    kd = next(r for r in report.rows if r.method == "kd")
    assert cells["kd"]["mean ± std"] == f"{kd.mean:.4f} ± {kd.std:.4f}"
    assert cells["kd"]["delta [95% CI]"] == f"{kd.delta:+.4f} [{kd.ci_low:+.4f}, {kd.ci_high:+.4f}]"
