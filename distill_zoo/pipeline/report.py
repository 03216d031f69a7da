"""results.json and the comparison table printed at the end of a run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def retention(student: dict[str, float], teacher: dict[str, float], metric: str) -> float | None:
    """student/teacher for ``metric``; None when the teacher's score is 0 (e.g. MCC of a constant)."""
    t = teacher.get(metric)
    return None if not t else student[metric] / t


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a crash never leaves a truncated results file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    tmp.replace(path)


def format_table(results: dict[str, Any]) -> str:
    """A plain-text teacher vs student comparison."""
    main = results["main_metric"]
    rows = [("", "teacher", "student")]
    for name in results["teacher"]["metrics"]:
        rows.append((name, f"{results['teacher']['metrics'][name]:.4f}", f"{results['student']['metrics'][name]:.4f}"))
    for key, fmt in (("params", "{:,}"), ("params_non_embedding", "{:,}"), ("latency_ms_median", "{:.2f}")):
        rows.append((key, fmt.format(results["teacher"][key]), fmt.format(results["student"][key])))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width[i]) if i == 0 else cell.rjust(width[i]) for i, cell in enumerate(r)) for r in rows]
    ret = results.get("retention")
    footer = f"retention ({main}) = {ret:.3f}" if ret is not None else f"retention ({main}) undefined"
    title = f"{results['task']} | method={results['method']} seed={results['seed']}"
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([title, rule, *lines, rule, footer])
