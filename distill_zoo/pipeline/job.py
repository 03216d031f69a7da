"""One Hydra job from start to exit: checks, the run, and what a failure leaves behind.

* A bad config or data file (:class:`DistillZooError`) is found before training and
  printed as one line; a single run exits with the error's code (2; 3 for a numerical
  fault) and, if its folder was new, leaves no folder behind.
* A run that fails after its checks passed (a NaN loss, a crash) records ``failed.json``
  (error, type, exit code, overrides) in its folder, which the report lists. In a
  multirun every failed job does, and raises, so the launcher moves on to the next job.
* SIGTERM (pre-emption) has already saved a checkpoint when it reaches here; the job
  exits 143 so a scheduler does not mistake it for success.
"""

from __future__ import annotations

import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from distill_zoo.errors import DistillZooError
from distill_zoo.pipeline.record import FAILED, write_json
from distill_zoo.pipeline.rundir import claim_run_dir, write_snapshot
from distill_zoo.pipeline.schema import validate_config
from distill_zoo.pipeline.secrets import redact

#: Exit code after SIGTERM (128 + 15, what a shell reports for a process it terminated).
SIGTERM_EXIT = 143


class JobFailed(Exception):
    """A multirun job failed; its ``failed.json`` says why (raised so the launcher goes on)."""


def run_job(cfg: DictConfig, overrides: list[str], multirun: bool) -> Any:
    """Validate, claim the run folder, run; return the run's record (None on ranks > 0)."""
    from distill_zoo.pipeline import run

    out_dir = Path(cfg.paths.output_dir)
    before = _contents(out_dir)
    snapshot: list[bool] = []

    def ready(teacher_entry: str | None) -> None:
        if not snapshot:
            write_snapshot(cfg, out_dir, overrides, teacher_entry)
            snapshot.append(True)

    try:
        validate_config(cfg)
        claim_run_dir(cfg, out_dir)
        return run(cfg, overrides, on_ready=ready)
    except DistillZooError as err:
        print(f"error: {err}", file=sys.stderr)
        if not snapshot and not before:
            _remove_new_folder(out_dir)
        if multirun or snapshot:
            _record_failure(out_dir, err, overrides, err.exit_code)
        if multirun:
            raise JobFailed(str(err)) from err
        sys.exit(err.exit_code)
    except SIGTERMException:
        print("stopped by SIGTERM; rerun the same command to continue from the checkpoint", file=sys.stderr)
        sys.exit(SIGTERM_EXIT)
    except Exception as err:
        if multirun or snapshot:
            _record_failure(out_dir, err, overrides, 1)
        raise
    finally:
        _finish_wandb()


def _contents(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _remove_new_folder(folder: Path) -> None:
    """Remove a folder this job's Hydra start created and nothing but its log filled."""
    if folder.is_dir() and all(p.suffix == ".log" for p in folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)


def _record_failure(out_dir: Path, err: BaseException, overrides: list[str], exit_code: int) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "error": str(err),
        "type": type(err).__name__,
        "exit_code": exit_code,
        "overrides": list(overrides),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "traceback": "" if isinstance(err, DistillZooError) else traceback.format_exc(),
    }
    write_json(out_dir / FAILED, redact(payload))


def _finish_wandb() -> None:
    """One crashed job must not leave a W&B run open for the next job of a multirun."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()
