"""The report in one Weights & Biases run: the table and the figures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill_zoo.report.tables import columns, table_records

if TYPE_CHECKING:
    from distill_zoo.report.build import Report


def log_report(
    report: Report, images: dict[str, Path], project: str = "distill_zoo", directory: str | None = None
) -> str:
    """Log ``report``'s table as a ``wandb.Table`` and ``images`` as ``wandb.Image`` in one
    run of ``job_type="report"``; return the run's folder.

    Offline unless ``WANDB_MODE`` says otherwise; the run's files go under ``directory``
    (default: ``WANDB_DIR``, else the working directory).
    """
    import wandb

    names = columns(report.rows)
    run = wandb.init(
        project=project,
        job_type="report",
        mode=None if os.environ.get("WANDB_MODE") else "offline",  # None: wandb reads WANDB_MODE itself
        dir=directory,
        config={"baseline": report.baseline, "metric": report.metric, "bootstrap": report.replicates},
    )
    try:
        table = wandb.Table(
            columns=list(names), data=[[_cell(record[c]) for c in names] for record in table_records(report.rows)]
        )
        run.log(
            {"report/summary": table, **{f"report/{name}": wandb.Image(str(path)) for name, path in images.items()}}
        )
        return str(Path(run.dir).parent)
    finally:
        run.finish()


def _cell(value: Any) -> Any:
    """Table cells of one type per column: lists as text, ints and floats as floats."""
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    return float(value)
