"""The report as records (one dict per row), CSV, Markdown and terminal text."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill_zoo.pipeline.report import LOWER_IS_BETTER
from distill_zoo.report.rows import Row

if TYPE_CHECKING:
    from distill_zoo.report.build import Report

#: Columns before the loss terms, and after them; the loss terms (``loss``, ``loss_<term>``) sit between.
LEADING = (
    "task",
    "method",
    "n",
    "mean",
    "std",
    "teacher",
    "retention",
    "delta",
    "ci_low",
    "ci_high",
    "params",
    "latency_ms",
    "speedup",
    "agreement",
    "teacher_ece",
    "student_ece",
)
TRAILING = (
    "test_mean",
    "test_teacher",
    "seeds",
    "scores",
    "steps",
    "teacher_entry",
    "student_init",
    "stage",
    "metric",
    "method_name",
    "is_baseline",
    "teacher_params",
    "teacher_latency_ms",
    "note",
)


def columns(rows: list[Row]) -> list[str]:
    """The table's columns: fixed ones, plus one per loss term any row logged."""
    losses = sorted({term for row in rows for term in row.losses})
    return [*LEADING, *losses, *TRAILING]


def table_records(rows: list[Row]) -> list[dict[str, Any]]:
    """One dict per row, keyed by :func:`columns` (None where a value is unknown)."""
    names = columns(rows)
    return [{name: _value(row, name) for name in names} for row in rows]


def _value(row: Row, name: str) -> Any:
    if name == "method":
        return row.label
    if name == "method_name":
        return row.method
    if name == "scores":
        return [row.scores[s] for s in sorted(row.scores)]
    if name == "note":
        return "; ".join(row.notes)
    if name.startswith("loss"):
        return row.losses.get(name)
    return getattr(row, name)


def write_csv(rows: list[Row], path: Path) -> None:
    """``summary.csv``: every column, floats at full precision, lists joined by ``;``."""
    records = table_records(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns(rows))
        writer.writeheader()
        for record in records:
            writer.writerow({k: _csv_cell(v) for k, v in record.items()})


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(_csv_cell(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def _number(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


#: What a table shows in place of a spread or an interval when one seed has a score.
ONE_SEED = "(1 seed)"


def _score(row: Row) -> str:
    """Mean ± sample std over seeds; a single seed has no spread to show, not a zero one."""
    if row.mean is None:
        return "-"
    return f"{row.mean:.4f} {ONE_SEED}" if len(row.scores) == 1 else f"{row.mean:.4f} ± {row.std:.4f}"


def _delta(row: Row) -> str:
    """The gain and its interval; a single seed gives no interval (its note says so)."""
    if row.is_baseline:
        return "baseline"
    if row.delta is None:
        return "-"
    if row.ci_low is not None:
        return f"{row.delta:+.4f} [{row.ci_low:+.4f}, {row.ci_high:+.4f}]"
    return f"{row.delta:+.4f} {ONE_SEED}" if len(row.scores) == 1 else f"{row.delta:+.4f}"


MAIN: dict[str, Callable[[Row], str]] = {
    "task": lambda r: r.task,
    "method": lambda r: r.label,
    "n": lambda r: str(r.n),
    "metric": lambda r: str(r.metric),
    "mean ± std": _score,
    "teacher": lambda r: _number(r.teacher),
    "retention": lambda r: _number(r.retention, ".3f"),
    "delta [95% CI]": _delta,
    "params": lambda r: f"{r.params:,}",
    "latency ms": lambda r: _number(r.latency_ms, ".2f"),
    "speedup": lambda r: "-" if r.speedup is None else f"{r.speedup:.2f}x",
}


def _diagnostics(rows: list[Row]) -> dict[str, Callable[[Row], str]]:
    losses = sorted({term for row in rows for term in row.losses})
    return {
        "task": lambda r: r.task,
        "method": lambda r: r.label,
        "agreement": lambda r: _number(r.agreement),
        "teacher ECE": lambda r: _number(r.teacher_ece),
        "student ECE": lambda r: _number(r.student_ece),
        **{term: _loss_cell(term) for term in losses},
        "test": lambda r: _number(r.test_mean),
        "seeds": lambda r: " ".join(map(str, r.seeds)),
        "steps": lambda r: "/".join(map(str, r.steps)),
        "teacher entry": lambda r: str(r.teacher_entry),
        "student init": lambda r: r.student_init,
    }


def _loss_cell(term: str) -> Callable[[Row], str]:
    """The cell of one loss term (a function per term: a lambda in a loop would see the last)."""
    return lambda r: _number(r.losses.get(term))


def markdown_table(rows: list[Row], cells: dict[str, Callable[[Row], str]]) -> str:
    """A Markdown (pipe) table, one line per row; numbers right-aligned."""
    lines = [[name for name in cells]] + [[cell(row).replace("|", "\\|") for cell in cells.values()] for row in rows]
    width = [max(len(line[i]) for line in lines) for i in range(len(cells))]
    text = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(lines[0], width)) + " |",
        "|" + "|".join("-" * (w + 2) for w in width) + "|",
    ]
    text += ["| " + " | ".join(c.ljust(w) for c, w in zip(line, width)) + " |" for line in lines[1:]]
    return "\n".join(text)


def _lists(report: Report) -> list[str]:
    lines = []
    notes = [(row, note) for row in report.rows for note in row.notes]
    if notes:
        lines += ["", "Notes:"] + [f"- {row.task} / {row.label}: {note}" for row, note in notes]
    lines += [f"WARNING: {warning}" for warning in report.warnings]
    if report.failed:
        lines += ["", f"Failed or missing jobs ({len(report.failed)}):"] + [
            f"- {f.path}: {f.reason}" for f in report.failed
        ]
    if report.unreadable:
        lines += ["", "Unreadable results:"] + [f"- {path}: {why}" for path, why in report.unreadable]
    return lines


def _header(report: Report) -> str:
    metric = report.metric or "the task's main metric"
    ci = (
        "95% CI: t interval over the shared seeds' paired differences, widened by the dev-set "
        "noise they share (exact for acc; other metrics: bootstrap over dev examples, held-out "
        f"blocks for a perplexity, {report.replicates} replicates)"
        if report.replicates
        else "no bootstrap"
    )
    lower = sorted({str(row.metric) for row in report.rows if row.metric in LOWER_IS_BETTER})
    direction = f" Lower is better for {', '.join(lower)}: there a negative delta is a gain." if lower else ""
    return (
        f"Student dev score ({metric}), mean ± sample std over seeds; "
        f"delta = mean over shared seeds of (row - '{report.baseline}') ({ci}).{direction}"
    )


def markdown(report: Report) -> str:
    """``summary.md``: the comparison, the diagnostics, notes, failed jobs."""
    return "\n".join(
        [
            "# Distillation report",
            "",
            _header(report),
            "",
            markdown_table(report.rows, MAIN),
            "",
            "## Diagnostics",
            "",
            markdown_table(report.rows, _diagnostics(report.rows)),
            *_lists(report),
            "",
        ]
    )


def terminal_text(report: Report) -> str:
    """What the command prints: the comparison table, notes and failed jobs."""
    if not report.rows:
        return "\n".join(["no results to compare", *_lists(report)])
    return "\n".join([_header(report), markdown_table(report.rows, MAIN), *_lists(report)])
