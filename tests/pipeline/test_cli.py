"""run.py as a user calls it: help, typos, bad input exit codes, a multirun sweep."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SWEPT_METHODS, SWEPT_SEEDS, TINY_RUN
from tests.helpers.cli import run_cli


def test_help_lists_the_config_groups():
    out = run_cli("--help").stdout
    for group in ("teacher:", "student:", "method:", "data:", "trainer:", "strategy:", "logger:", "experiment:"):
        assert group in out
    methods = next(line for line in out.splitlines() if line.startswith("method:"))
    for name in ("distilbert", "kd", "none", "tinybert", "mobilebert", "minilm"):
        assert name in methods


def test_typo_in_an_option_lists_the_valid_ones(tmp_path):
    proc = run_cli("method=distilbrt", f"hydra.run.dir={tmp_path}")
    assert proc.returncode != 0
    assert "Could not find 'method/distilbrt'" in proc.stderr
    assert "distilbert" in proc.stderr and "kd" in proc.stderr


def test_bad_input_exits_non_zero_with_a_message(tmp_path):
    proc = run_cli(
        *TINY_RUN,
        "data=sst2",
        f"data.root={tmp_path / 'none'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )
    assert proc.returncode == 2
    assert "error: missing" in proc.stderr and "glue/sst2/train.tsv" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.slow
def test_multirun_writes_one_result_per_job_and_reuses_one_teacher(tiny_sweep):
    proc, sweep = tiny_sweep.proc, tiny_sweep.dir
    results = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/results.json"))]
    assert sorted((r["method"], r["seed"]) for r in results) == sorted(
        (m, s) for m in SWEPT_METHODS for s in SWEPT_SEEDS
    )
    teachers = {r["teacher"]["path"] for r in results}
    assert len(teachers) == 1
    assert tiny_sweep.teachers == 1
    assert proc.stdout.count("fine-tuning tiny") == 1
    assert len({r["teacher"]["metrics"]["acc"] for r in results}) == 1
    assert len({r["teacher_entry"] for r in results}) == 1
    # The sweep ends with its summary: one row per method, both seeds, one teacher entry.
    summary = (sweep / "summary.txt").read_text()
    assert summary in proc.stdout
    rows = [line for line in summary.splitlines()[1:] if line.startswith("sst2")]
    assert sorted(line.split()[1] for line in rows) == sorted(SWEPT_METHODS)
    assert all(f"({len(SWEPT_SEEDS)})" in line for line in rows) and "WARNING" not in summary


@pytest.mark.slow
def test_ddp_pipeline_on_two_cpu_processes(tmp_path):
    proc = run_cli(
        *TINY_RUN,
        "strategy=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["config"]["trainer"]["devices"] == 2
    assert (tmp_path / "run" / "student" / "config.json").is_file()
    assert len(list((tmp_path / "cache" / "teachers").glob("*/config.json"))) == 1
