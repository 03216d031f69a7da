"""The rows of a ``summary.csv`` the report wrote (:func:`distill_zoo.report.tables.write_csv`),
read back to re-draw its figures when the run folders are gone.

Each column comes back as written: floats from their ``repr``, an empty cell as None, the
lists ``seeds``, ``scores`` and ``steps`` split at ``;`` (``scores`` keyed by ``seeds``),
``is_baseline`` from ``True``/``False``, a loss-term column as a key of ``losses`` where
its cell is not empty. Nothing is recomputed: means, deltas and intervals are the file's.

What the file does not hold stays empty: the runs, their comparable signature and
``provenance`` (those notes are in ``note``). The notes come back as one note, the
``note`` cell: the notes were joined with ``; ``, which a note may itself contain.
"""

from __future__ import annotations

import csv
from pathlib import Path

from distill_zoo.errors import DataError
from distill_zoo.report.plots import save_plots
from distill_zoo.report.rows import Row, loss_column
from distill_zoo.report.tables import LEADING, TRAILING


def read_summary_csv(path: Path) -> list[Row]:
    """The rows of ``path``, in the file's order.

    Raises :class:`DataError` naming the file (and line and column) for a missing or
    unknown column, a cell that does not parse, or scores that cannot be given their seeds.
    """
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        losses = _check_columns(path, header)
        return [_Cells(path, reader.line_num, cells).row(losses) for cells in reader]


def redraw_figures(summary: Path, out: Path, pareto_x: str = "latency") -> tuple[list[Row], dict[str, Path]]:
    """Draw ``scores.png`` and ``pareto.png`` of the rows in ``summary`` into ``out``;
    the rows and the figures' paths by name. Writes nothing else."""
    rows = read_summary_csv(summary)
    out.mkdir(parents=True, exist_ok=True)
    return rows, save_plots(rows, out, pareto_x)


def _check_columns(path: Path, header: list[str]) -> list[str]:
    """The loss-term columns of ``header``; raises for a missing or unknown column."""
    if not header:
        raise DataError(f"{path}: no header line; not a summary.csv of python -m distill_zoo.report")
    for name in (*LEADING, *TRAILING):
        if name not in header:
            raise DataError(f"{path}: no column {name!r}; not a summary.csv of python -m distill_zoo.report")
    fixed = {*LEADING, *TRAILING}
    for name in header:
        if name not in fixed and loss_column(name) != name:
            raise DataError(
                f"{path}: unknown column {name!r}; a summary.csv holds {', '.join(LEADING)}, "
                f"loss terms (loss, loss_<term>), {', '.join(TRAILING)}"
            )
    return [name for name in header if name not in fixed]


class _Cells:
    """One line of the file, read cell by cell; errors name the file, line and column."""

    def __init__(self, path: Path, line: int, cells: dict[str | None, str | None]) -> None:
        if None in cells or None in cells.values():
            raise DataError(f"{path}, line {line}: not as many cells as the header has columns")
        self.path, self.line, self.cells = path, line, {str(k): str(v) for k, v in cells.items()}

    def _fail(self, name: str, kind: str) -> DataError:
        return DataError(f"{self.path}, line {self.line}, column {name!r}: {self.cells[name]!r} is not {kind}")

    def text(self, name: str) -> str:
        return self.cells[name]

    def optional_text(self, name: str) -> str | None:
        return self.cells[name] or None

    def number(self, name: str) -> float | None:
        try:
            return float(self.cells[name]) if self.cells[name] else None
        except ValueError:
            raise self._fail(name, "a number") from None

    def integer(self, name: str) -> int:
        try:
            return int(self.cells[name])
        except ValueError:
            raise self._fail(name, "an integer") from None

    def integers(self, name: str) -> list[int]:
        try:
            return [int(v) for v in self.cells[name].split(";")] if self.cells[name] else []
        except ValueError:
            raise self._fail(name, "integers joined by ';'") from None

    def steps(self, name: str) -> list[int | None]:
        """One step count per distinct budget, None (an empty item) where a seed recorded none:
        a row has a seed, so an empty cell is ``[None]``."""
        try:
            return [int(v) if v else None for v in self.cells[name].split(";")]
        except ValueError:
            raise self._fail(name, "step counts joined by ';'") from None

    def numbers(self, name: str) -> list[float]:
        try:
            return [float(v) for v in self.cells[name].split(";")] if self.cells[name] else []
        except ValueError:
            raise self._fail(name, "numbers joined by ';'") from None

    def boolean(self, name: str) -> bool:
        if self.cells[name] not in ("True", "False"):
            raise self._fail(name, "True or False")
        return self.cells[name] == "True"

    def row(self, losses: list[str]) -> Row:
        seeds = self.integers("seeds")
        scores = self.numbers("scores")
        if self.integer("n") != len(seeds):
            raise DataError(f"{self.path}, line {self.line}: n is {self.cells['n']} but the seeds are {seeds}")
        if scores and len(scores) != len(seeds):
            raise DataError(
                f"{self.path}, line {self.line}, column 'scores': {len(scores)} scores for the seeds {seeds}; "
                "the file does not say which seeds scored, so the row cannot be rebuilt"
            )
        notes = self.text("note")
        return Row(
            task=self.text("task"),
            method=self.text("method_name"),
            label=self.text("method"),
            stage=self.text("stage"),
            metric=self.optional_text("metric"),
            runs=[],
            signature={},
            scores=dict(zip(seeds, scores)),
            seeds=seeds,
            mean=self.number("mean"),
            std=self.number("std"),
            teacher=self.number("teacher"),
            retention=self.number("retention"),
            params=self.integer("params"),
            latency_ms=self.number("latency_ms"),
            speedup=self.number("speedup"),
            teacher_params=self.integer("teacher_params"),
            teacher_latency_ms=self.number("teacher_latency_ms"),
            agreement=self.number("agreement"),
            teacher_ece=self.number("teacher_ece"),
            student_ece=self.number("student_ece"),
            losses={name: value for name in losses if (value := self.number(name)) is not None},
            test_mean=self.number("test_mean"),
            test_teacher=self.number("test_teacher"),
            steps=self.steps("steps"),
            teacher_entry=self.optional_text("teacher_entry"),
            student_init=self.text("student_init"),
            is_baseline=self.boolean("is_baseline"),
            delta=self.number("delta"),
            ci_low=self.number("ci_low"),
            ci_high=self.number("ci_high"),
            notes=[notes] if notes else [],
        )
