"""Gather ``results.json`` files from runs or sweeps; mean and spread over seeds per method."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any


def collect_results(root: str | Path) -> list[dict[str, Any]]:
    """Every ``results.json`` under ``root`` (a run, a sweep, or ``outputs/``), without configs."""
    rows = []
    for path in sorted(Path(root).rglob("results.json")):
        data = json.loads(path.read_text())
        data.pop("config", None)
        data["run_dir"] = str(path.parent)
        rows.append(data)
    return rows


def summarize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, method): student main metric mean, sample std, n seeds, retention.

    The spread is the sample standard deviation over seeds (0 with a single seed).
    Rows that used different teachers for one task are flagged, since they are not a
    fair comparison.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[(r["task"], r["method"])].append(r)
    teachers_per_task: dict[str, set[str]] = defaultdict(set)
    for r in results:
        teachers_per_task[r["task"]].add(r["teacher"]["path"])
    rows = []
    for (task, method), runs in sorted(groups.items()):
        metric = runs[0]["main_metric"]
        scores = [r["student"]["metrics"][metric] for r in runs]
        retained = [r["retention"] for r in runs if r["retention"] is not None]
        rows.append({
            "task": task,
            "method": method,
            "metric": metric,
            "mean": statistics.fmean(scores),
            "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
            "n": len(scores),
            "seeds": sorted(r["seed"] for r in runs),
            "retention": statistics.fmean(retained) if retained else None,
            "teacher": runs[0]["teacher"]["metrics"][metric],
            "same_teacher": len(teachers_per_task[task]) == 1,
        })
    return rows


def format_summary(rows: list[dict[str, Any]]) -> str:
    """A plain-text table: ``method  metric  mean ± std (n)  retention``."""
    lines = [f"{'task':8} {'method':12} {'metric':8} {'student':>18} {'teacher':>8} {'retention':>9}"]
    for r in rows:
        ret = f"{r['retention']:.3f}" if r["retention"] is not None else "-"
        flag = "" if r["same_teacher"] else "  (different teachers!)"
        lines.append(
            f"{r['task']:8} {r['method']:12} {r['metric']:8} "
            f"{r['mean']:>8.4f} ± {r['std']:.4f} ({r['n']}) {r['teacher']:>8.4f} {ret:>9}{flag}"
        )
    return "\n".join(lines)
