"""One real tiny run made through run.py (so it has .hydra/ and provenance.json): a copy of a job
of the session's sweep, and its student exported once in each format."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Sweep


@dataclass(frozen=True)
class Export:
    """One format's export of the tiny run: its folder, exit code and terminal output."""

    out: Path
    code: int
    stdout: str


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, tiny_sweep: Sweep) -> Path:
    """The sweep's distilbert job of seed 1 (the default method), copied so that the exports
    land outside the sweep (export reads the student from the folder it is given)."""
    records = {path.parent: json.loads(path.read_text()) for path in sorted(tiny_sweep.dir.glob("*/results.json"))}
    job = next(job for job, r in records.items() if (r["method"], r["seed"]) == ("distilbert", 1))
    run = tmp_path_factory.mktemp("export_run") / "run"
    shutil.copytree(job, run)
    return run


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
