"""run.py as a user calls it: in a child process (exit codes, signals), or in this one (checks only)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from types import ModuleType

import pytest

from tests.conftest import ROOT


def run_cli(*args: str, cwd=ROOT, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python run.py <args>`` in a child process, offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", **(extra_env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@dataclass(frozen=True)
class InProcessRun:
    """What :func:`cli_in_process` saw: the exit code ``run.py`` would end with, and its output."""

    returncode: int
    stdout: str
    stderr: str


def _entry_point() -> ModuleType:
    spec = importlib.util.spec_from_file_location("distill_zoo_run_py", ROOT / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Hydra finds conf/ beside the file of a task function whose module is __main__ (as under
    # ``python run.py``); under any other module name it would look for a package named conf.
    module.main.__wrapped__.__module__ = "__main__"
    return module


def cli_in_process(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> InProcessRun:
    """``run.py <args>`` through its own entry point (:func:`cli`), in this process.

    Saves the ~10 s a child spends importing torch and Lightning. Signals, and a check of the
    process's real exit code, need :func:`run_cli`.
    """
    entry = _entry_point()
    monkeypatch.setattr(sys, "argv", [str(ROOT / "run.py"), *args])
    capsys.readouterr()
    try:
        code = entry.cli()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    seen = capsys.readouterr()
    return InProcessRun(code, seen.out, seen.err)
