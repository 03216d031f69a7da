"""Gather the runs under some folders into a :class:`Report`, and write its files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.summary import collect_results, teacher_mismatches
from distill_zoo.report.baseline import compare_to_baseline
from distill_zoo.report.bootstrap import BOOTSTRAP_SEED
from distill_zoo.report.jobs import FailedJob, find_failed_jobs
from distill_zoo.report.plots import save_plots
from distill_zoo.report.rows import Row, Run, build_rows
from distill_zoo.report.tables import markdown, write_csv


@dataclass
class Report:
    """The comparison rows and what could not be compared.

    Attributes:
        rows: one per (task, method configuration), baselines first within a task.
        failed: job folders without final results, with why.
        unreadable: (results.json path, why) for records that could not be read.
        warnings: tasks whose rows distil from different teachers.
        baseline, metric, replicates: how the report was made (metric None: each task's main metric).
    """

    rows: list[Row]
    failed: list[FailedJob] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    baseline: str = "none"
    metric: str | None = None
    replicates: int = 1000


def build_report(
    dirs: list[str | Path],
    baseline: str = "none",
    metric: str | None = None,
    replicates: int = 1000,
    seed: int = BOOTSTRAP_SEED,
    strict: bool = False,
) -> Report:
    """The report of every ``results.json`` under ``dirs`` (runs, sweeps, chains, ``outputs/``).

    Raises :class:`ConfigError` for a folder that does not exist or a seed counted twice
    in one configuration, and with ``strict`` for a row that merges seeds, or a delta
    that pairs runs, of different provenance (:mod:`distill_zoo.report.provenance`).
    """
    roots = _roots(dirs)
    found = collect_results(*roots)
    rows = build_rows([Run(r, Path(d)) for r, d in zip(found.records, found.run_dirs)], metric)
    compare_to_baseline(rows, baseline, replicates, seed)
    rows.sort(key=lambda r: (r.task, not r.is_baseline, r.label))
    if strict:
        _refuse_mixed_provenance(rows)
    warnings = [
        f"{task} rows distil from different teachers {entries}: not one comparison"
        for task, entries in teacher_mismatches(
            [{"task": r.task, "teacher_entry": r.teacher_entry} for r in rows]
        ).items()
    ]
    return Report(rows, find_failed_jobs(*roots), found.unreadable, warnings, baseline, metric, replicates)


def _refuse_mixed_provenance(rows: list[Row]) -> None:
    """Raise :class:`ConfigError` naming every row, field and value where runs of different
    provenance are merged or paired (``--strict``)."""
    mixed = [f"- {row.task} / {row.label}: {note}" for row in rows for note in row.provenance]
    if mixed:
        raise ConfigError(
            "--strict: these rows merge or pair runs of different code, library versions or hardware:\n"
            + "\n".join(mixed)
            + "\nrerun the odd seeds at one commit, with the same versions and hardware, "
            "or drop --strict to merge them with these notes; no report written"
        )


def _roots(dirs: list[str | Path]) -> list[Path]:
    """The folders, each once: one inside another would count its runs twice."""
    paths = [Path(d).resolve() for d in dirs]
    for path in paths:
        if not path.is_dir():
            raise ConfigError(f"no such folder: {path}")
    unique = sorted(set(paths))
    return [p for p in unique if not any(other in p.parents for other in unique)]


def write_report(report: Report, out: str | Path, pareto_x: str = "latency") -> dict[str, Path]:
    """Write ``summary.csv``, ``summary.md``, ``scores.png`` and ``pareto.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "summary.csv", "markdown": out / "summary.md"}
    write_csv(report.rows, paths["csv"])
    paths["markdown"].write_text(markdown(report))
    return paths | save_plots(report.rows, out, pareto_x)
