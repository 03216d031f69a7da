"""One real tiny run, made once through run.py (so it has .hydra/ and provenance.json), and its
student exported once in each format."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TINY_RUN
from tests.pipeline.test_cli import run_cli


@dataclass(frozen=True)
class Export:
    """One format's export of the tiny run: its folder, exit code and terminal output."""

    out: Path
    code: int
    stdout: str


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export_run")
    proc = run_cli(*TINY_RUN, f"hydra.run.dir={root / 'run'}", f"paths.cache_dir={root / 'cache'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "run"


@pytest.fixture(scope="session")
def exports(finished_run) -> dict[str, Export]:
    from distill_zoo.export.cli import main

    done = {}
    for fmt in ("hf", "onnx", "int8"):
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = main([str(finished_run), "--format", fmt])
        done[fmt] = Export(finished_run / f"export-{fmt}", code, stdout.getvalue())
    return done
