"""A real tiny sweep, made once per test session: 2 methods x 2 seeds of the compare_methods
preset through ``run.py -m``, a two-stage chain, and a job that failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA, TINY_RUN
from tests.pipeline.test_cli import run_cli

#: The compare_methods preset at test size: a 4-layer tiny teacher, a 2-layer student from
#: its layers, 64 training and 32 dev sentences of SST-2.
TINY_COMPARISON = [
    "experiment=compare_methods",
    *TINY_RUN,
    "student=half",
    "teacher.model.num_layers=4",
    f"data.root={SHARED_DATA}",
    "teacher.finetune.max_train_samples=64",
]


@pytest.fixture(scope="session")
def real_sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real_sweep")
    cache = f"paths.cache_dir={root / 'cache'}"
    sweep = run_cli(
        "-m", *TINY_COMPARISON, "method=none,kd", "seed=1,2", f"hydra.sweep.dir={root / 'runs' / 'sweep'}", cache
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    chain = run_cli(
        *TINY_COMPARISON,
        "experiment=tinybert_two_step",
        "logger=csv",
        f"hydra.run.dir={root / 'runs' / 'chain'}",
        cache,
    )
    assert chain.returncode == 0, chain.stderr[-3000:]
    failed = run_cli(
        *TINY_COMPARISON,
        "method=kd",
        "seed=3",
        "optimizer.lr=1e20",
        f"hydra.run.dir={root / 'runs' / 'failed'}",
        cache,
    )
    assert failed.returncode == 3 and "was nan at step" in failed.stderr, failed.stderr[-3000:]
    return root / "runs"
