"""Gather results records from runs, sweeps and chains; mean and spread over seeds per method.

Rows only ever merge runs that differ in nothing but the seed: the summary groups runs
by (task or corpus, method, pipeline stage) and refuses, naming the differing fields,
to put runs with different teachers, students, inits, budgets, data or method options
into one row, or to count one seed twice. By default only the final stage of each
pipeline is compared (``stages="all"`` lists intermediate stages as their own rows).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.record import RunRecord, differences, read_record


@dataclass
class Collected:
    """Records found under some folders, and the files that could not be read (with why)."""

    records: list[RunRecord] = field(default_factory=list)
    run_dirs: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def collect_results(*roots: str | Path) -> Collected:
    """Every ``results.json`` under ``roots`` (runs, sweeps, chains, or ``outputs/``)."""
    found = Collected()
    for root in roots:
        for path in sorted(Path(root).rglob("results.json")):
            try:
                found.records.append(read_record(path))
                found.run_dirs.append(str(path.parent))
            except (ValueError, KeyError, TypeError, json.JSONDecodeError) as err:
                found.unreadable.append((str(path), f"{type(err).__name__}: {err}"))
    return found


def summarize(records: list[RunRecord], stages: str = "final") -> list[dict[str, Any]]:
    """One row per (task or corpus, method, stage): the student's main metric over seeds.

    ``mean`` and the sample standard deviation ``std`` (0 with one seed) over seeds,
    mean retention, the teacher's score and cache entry, the optimiser steps each seed
    ran (more than one value would mean unequal budgets), the student's parameters and
    its mean batch-1 CPU latency and speed-up over the teacher. Raises :class:`ConfigError`
    when runs that would share a row differ in more than the seed, or repeat a seed.
    """
    if stages not in ("final", "all"):
        raise ConfigError(f"stages must be 'final' or 'all', got {stages!r}")
    chosen = [r for r in records if stages == "all" or r.stage.final]
    groups: dict[tuple, list[RunRecord]] = defaultdict(list)
    for r in chosen:
        groups[(r.task or f"corpus:{r.corpus}", r.method, r.stage.pipeline, r.stage.name)].append(r)
    rows = []
    for (target, method, pipeline, stage), runs in sorted(groups.items()):
        reference = runs[0].comparable()
        for other in runs[1:]:
            diff = differences(reference, other.comparable())
            if diff:
                raise ConfigError(
                    f"refusing to merge {method} runs on {target} (seeds {runs[0].seed} and {other.seed}) into one "
                    f"row: they differ in more than the seed: {'; '.join(diff[:8])}"
                )
        seeds = [r.seed for r in runs]
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"{method} on {target} has seed(s) counted twice: {sorted(seeds)}; keep one run per seed")
        metric = runs[0].main_metric
        scores = [r.student.metrics[metric] for r in runs] if metric else []
        retained = [r.retention for r in runs if r.retention is not None]
        latencies = [r.student.latency_ms_median for r in runs if r.student.latency_ms_median is not None]
        speedups = [r.speedup for r in runs if r.speedup is not None]
        steps: set[Any] = {r.budget.get("steps_done") for r in runs}  # values read from JSON
        rows.append(
            {
                "task": target,
                "method": method,
                "stage": stage if pipeline == "single" else f"{pipeline}/{stage}",
                "metric": metric,
                "mean": statistics.fmean(scores) if scores else None,
                "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                "n": len(runs),
                "seeds": sorted(seeds),
                "retention": statistics.fmean(retained) if retained else None,
                "teacher": runs[0].teacher.metrics.get(metric) if metric else None,
                "teacher_entry": runs[0].teacher_entry,
                "student_init": runs[0].student_init,
                "steps": sorted(steps),
                "params": runs[0].student.params,
                "latency_ms": statistics.fmean(latencies) if latencies else None,
                "speedup": statistics.fmean(speedups) if speedups else None,
                "latency_unstable": sum(bool(r.teacher.latency_unstable or r.student.latency_unstable) for r in runs),
            }
        )
    return rows


def teacher_mismatches(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Tasks whose rows distil from more than one teacher entry (not one comparison)."""
    entries: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        entries[r["task"]].add(str(r["teacher_entry"]))
    return {task: sorted(e) for task, e in entries.items() if len(e) > 1}


def format_summary(rows: list[dict[str, Any]]) -> str:
    """A plain-text table, one row per method, plus a warning for tasks with several teachers."""
    header = (
        f"{'task':8} {'method':12} {'stage':28} {'metric':8} {'student':>22} {'teacher':>8} {'retention':>9} "
        f"{'steps':>6} {'params':>11} {'ms':>6} {'speedup':>7}  teacher entry"
    )
    lines = [header]
    for r in rows:
        ret = f"{r['retention']:.3f}" if r["retention"] is not None else "-"
        score = f"{r['mean']:.4f} ± {r['std']:.4f} ({r['n']})" if r["mean"] is not None else "-"
        teacher = f"{r['teacher']:.4f}" if r["teacher"] is not None else "-"
        steps = "/".join(str(s) for s in r["steps"])
        ms = f"{r['latency_ms']:.2f}" if r["latency_ms"] is not None else "-"
        speedup = f"{r['speedup']:.2f}x" if r["speedup"] is not None else "-"
        speedup += "?" if r.get("latency_unstable") else ""  # timed under unsteady load: not a figure to quote
        lines.append(
            f"{r['task']:8} {r['method']:12} {r['stage']:28} {str(r['metric']):8} {score:>22} {teacher:>8} {ret:>9} "
            f"{steps:>6} {r['params']:>11,} {ms:>6} {speedup:>7}  {r['teacher_entry']}"
        )
    for task, entries in teacher_mismatches(rows).items():
        lines.append(f"WARNING: {task} rows distil from different teachers {entries}: not one comparison")
    if any(r.get("latency_unstable") for r in rows):
        lines.append(
            "?: latency unstable in some runs (timings spread or drifted): time with python -m distill_zoo.bench"
        )
    return "\n".join(lines)


def summary_text(*roots: str | Path, stages: str = "final") -> str:
    """The summary table of every run under ``roots``, with unreadable results listed."""
    found = collect_results(*roots)
    lines = [format_summary(summarize(found.records, stages))]
    lines += [f"unreadable: {path} ({why})" for path, why in found.unreadable]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m distill_zoo.pipeline.summary DIR [DIR ...] [--stages all]``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="run, sweep or chain folders")
    parser.add_argument("--stages", choices=("final", "all"), default="final")
    args = parser.parse_args(argv)
    try:
        print(summary_text(*args.dirs, stages=args.stages))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
