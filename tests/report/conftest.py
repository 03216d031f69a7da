"""A real tiny sweep, made once per test session: the session's compare_methods sweep through
``run.py -m`` (3 methods x 2 seeds), with a two-stage chain and a job that failed beside it."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_COMPARISON, Sweep


def run_in_process(overrides: list[str], out_dir: Path, cache: Path) -> tuple[int, str]:
    """Like ``python run.py <overrides>`` into ``out_dir`` without a new interpreter: the job's
    checks, run folder and failure record, then its exit code (0 when it returned) and stderr."""
    from hydra import compose, initialize_config_dir

    from distill_zoo.pipeline.job import run_job

    overrides = [*overrides, f"paths.output_dir={out_dir}", f"paths.cache_dir={cache}"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            run_job(cfg, overrides, multirun=False)
        except SystemExit as exit_info:
            return int(exit_info.code or 0), stderr.getvalue()
    return 0, stderr.getvalue()


@pytest.fixture(scope="session")
def real_sweep(tiny_sweep: Sweep) -> Path:
    runs = tiny_sweep.runs
    code, stderr = run_in_process(
        [*TINY_COMPARISON, "experiment=tinybert_two_step", "logger=csv"], runs / "chain", tiny_sweep.cache
    )
    assert code == 0, stderr[-3000:]
    code, stderr = run_in_process(
        [*TINY_COMPARISON, "method=kd", "seed=3", "optimizer.lr=1e20"], runs / "failed", tiny_sweep.cache
    )
    assert code == 3 and "was nan at step" in stderr, stderr[-3000:]
    return runs
