"""Jobs of a run or sweep that left no usable results: crashed, killed, or still running."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from distill_zoo.pipeline.record import FAILED

_ERROR_LINE = re.compile(r"error|exception|traceback|killed|out of memory", re.IGNORECASE)


@dataclass(frozen=True)
class FailedJob:
    """A job folder without the results of its final stage, and what is known of why."""

    path: str
    reason: str


def find_failed_jobs(*roots: str | Path) -> list[FailedJob]:
    """Every job folder under ``roots`` without a final-stage ``results.json``.

    A job folder is a Hydra job (one holding ``.hydra/``) or any folder holding
    ``failed.json``. A chain job counts as finished when its final stage's results are
    there (stages write into subfolders). The reason is the ``error`` of ``failed.json``
    when there is one; otherwise "no results.json" with the last line of the job's log
    that looks like an error.
    """
    found = {p.parent for root in roots for name in (".hydra", FAILED) for p in Path(root).rglob(name)}
    # A chain stage's folder lies inside its job's folder: report the job once.
    jobs = [job for job in sorted(found) if not any(parent in found for parent in job.parents)]
    return [FailedJob(str(job), reason) for job in jobs if (reason := _why_unfinished(job)) is not None]


def _why_unfinished(job: Path) -> str | None:
    stages = _stages(job)
    if any(index == count - 1 for index, count in stages):
        return None
    if not stages and any(job.rglob("results.json")):
        return None  # there, but unreadable: collect_results lists it with why
    failure = next(iter(sorted(job.rglob(FAILED))), None)
    if failure is not None:
        return f"failed: {_failure(failure)}"
    if stages:
        done = max(index for index, _ in stages) + 1
        reason = f"stopped after stage {done} of {stages[0][1]} (no results.json for the final stage)"
    else:
        reason = "no results.json"
    line = _last_error_line(job)
    return f"{reason}; log: {line}" if line else reason


def _stages(job: Path) -> list[tuple[int, int]]:
    """(index, count) of every results.json under ``job`` that can be read that far."""
    found = []
    for path in job.rglob("results.json"):
        try:
            stage = json.loads(path.read_text()).get("stage") or {}
            found.append((int(stage.get("index", 0)), int(stage.get("count", 1))))
        except (ValueError, TypeError, AttributeError, OSError):
            continue  # unreadable results are listed by collect_results
    return found


def _failure(path: Path) -> str:
    try:
        payload = json.loads(path.read_text())
    except (ValueError, OSError) as err:
        return f"unreadable {path.name} ({err})"
    if not isinstance(payload, dict):
        return str(payload)
    error = payload.get("error") or payload.get("message") or json.dumps(payload, sort_keys=True)
    kind = payload.get("type") or payload.get("exception")
    return f"{kind}: {error}" if kind and str(kind) not in str(error) else str(error)


def _last_error_line(job: Path) -> str | None:
    logs = [job / "run.log"] if (job / "run.log").is_file() else sorted(job.glob("*.log"))
    for log in logs:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if _ERROR_LINE.search(line)]
        if lines:
            return lines[-1]
    return None
