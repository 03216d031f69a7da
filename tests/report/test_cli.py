"""``python -m distill_zoo.report``: exit codes, the printed table, the files, plots, W&B."""

from __future__ import annotations

import json
import runpy
import sys

import numpy as np
import pytest
from matplotlib.image import imread

from distill_zoo.report import build_report, pareto_figure, pareto_front, scores_figure
from distill_zoo.report.cli import main
from tests.report.synthetic import simulated_sweep, write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def sweep(tmp_path):
    simulated_sweep(tmp_path / "sweep", {"none": 0.80, "kd": 0.88, "distilbert": 0.85}, seeds=(1, 2), n=300)
    return tmp_path / "sweep"


def assert_png(path):
    assert path.stat().st_size > 0 and path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100 and image[..., :3].std() > 0  # not a blank canvas


def test_the_command_prints_the_table_and_writes_its_files(sweep, capsys):
    assert main([str(sweep), "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "| task | method" in out and "delta [95% CI]" in out
    kd_line = next(line for line in out.splitlines() if line.startswith("| sst2 | kd "))
    assert "] |" in kd_line.split(" [")[1]  # a delta with its interval
    assert "| sst2 | none " in out and "baseline" in out
    report_dir = sweep / "report"
    for name in ("summary.csv", "summary.md", "scores.png", "pareto.png"):
        assert (report_dir / name).stat().st_size > 0
    assert_png(report_dir / "scores.png")
    assert_png(report_dir / "pareto.png")
    md = (report_dir / "summary.md").read_text()
    assert "## Diagnostics" in md and "| sst2 | distilbert" in md and "loss_kd" in md


def test_python_dash_m_runs_the_command(sweep, tmp_path, monkeypatch, capsys):
    out = tmp_path / "elsewhere"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "distill_zoo.report",
            str(sweep),
            "--out",
            str(out),
            "--pareto-x",
            "params",
            "--bootstrap",
            "0",
            "--baseline",
            "kd",
        ],
    )
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("distill_zoo.report", run_name="__main__")
    assert exit_info.value.code == 0
    assert (out / "summary.csv").is_file() and not (sweep / "report").exists()
    printed = capsys.readouterr().out
    assert "delta vs 'kd'" not in printed and "(row - 'kd')" in printed and "no bootstrap" in printed


def test_bad_input_exits_non_zero_with_a_message(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    write_run(tmp_path / "failed", None)
    assert main([str(tmp_path)]) == 1  # nothing to compare, but the failed job is listed
    out = capsys.readouterr().out
    assert "no results to compare" in out and "failed: no results.json" in out


def test_pareto_front_keeps_the_points_nothing_beats():
    costs, quality = [5.0, 1.0, 3.0, 2.0, 4.0, 1.0], [0.9, 0.5, 0.8, 0.8, 0.7, 0.4]
    assert pareto_front(costs, quality, higher_is_better=True) == [1, 3, 0]


def test_one_panel_per_task(tmp_path):
    simulated_sweep(tmp_path / "a", {"none": 0.8, "kd": 0.85}, seeds=(1,), n=100)
    simulated_sweep(tmp_path / "b", {"none": 0.5, "kd": 0.8}, seeds=(1,), n=100, task="stsb")
    report = build_report([tmp_path], replicates=0)
    for figure in (scores_figure(report.rows), pareto_figure(report.rows, "params")):
        assert [ax.get_title() for ax in figure.axes] == ["sst2", "stsb"]
    scores = scores_figure(report.rows).axes[0]
    teacher = [line for line in scores.get_lines() if line.get_label() == "teacher"]
    assert len(teacher) == 1 and np.allclose(teacher[0].get_ydata(), report.rows[0].teacher)
    with pytest.raises(ValueError, match="pareto x"):
        pareto_figure(report.rows, "flops")


def test_wandb_logs_the_table_and_plots_offline(sweep, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    (tmp_path / "wb").mkdir()
    assert main([str(sweep), "--bootstrap", "0", "--wandb", "--wandb-project", "test_report"]) == 0
    assert "W&B run:" in capsys.readouterr().out
    runs = list((tmp_path / "wb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("run-*.wandb"))
    media = runs[0] / "files" / "media"
    assert sorted(p.name.split("_")[0] for p in media.rglob("*.png")) == ["pareto", "scores"]
    tables = list(media.rglob("summary_*.table.json"))
    assert len(tables) == 1
    logged = json.loads(tables[0].read_text())
    assert logged["columns"][:4] == ["task", "method", "n", "mean"]
    assert sorted(row[1] for row in logged["data"]) == ["distilbert", "kd", "none"]
