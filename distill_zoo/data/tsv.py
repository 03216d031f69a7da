"""Read GLUE's own TSV files, with errors that name the file and line."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from distill_zoo.data.tasks import TaskSpec
from distill_zoo.data.text import read_utf8
from distill_zoo.errors import DataError

Example = dict[str, str | int | float]

csv.field_size_limit(sys.maxsize)


def read_glue_tsv(path: Path, spec: TaskSpec) -> list[Example]:
    """Rows of a GLUE TSV as ``{field: text, ..., "label": int | float}``.

    The header row (if any) names the columns; files without one (CoLA) are read by
    the column positions in ``spec.headerless``. Quotes are literal text, as in GLUE.
    Every row must have as many columns as the first: a stray tab would otherwise shift
    or silently drop text. Blank lines are skipped.
    """
    if not path.is_file():
        raise DataError(f"missing data file {path}")
    text = read_utf8(path)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not any(_has_text(row) for row in rows):
        raise DataError(f"{path} is empty; a {spec.name} split needs a header line and at least one example row")
    positions, start = _column_positions(path, rows[0], spec)
    width = len(rows[0])
    examples = []
    for line, row in enumerate(rows[start:], start=start + 1):
        if not _has_text(row):
            continue
        if len(row) != width:
            raise DataError(
                f"{path}, line {line}: expected {width} tab-separated columns (as on line 1), found {len(row)}; "
                "fix the row (a tab inside the text adds a column)"
            )
        example: Example = {f: row[positions[f]] for f in spec.text_fields}
        example["label"] = _parse_label(row[positions["label"]], spec, f"{path}, line {line}")
        examples.append(example)
    if not examples:
        raise DataError(f"{path} has a header but no examples; a split needs at least one example row")
    return examples


def _has_text(row: list[str]) -> bool:
    return bool(row) and row != [""]


def _column_positions(path: Path, first: list[str], spec: TaskSpec) -> tuple[dict[str, int], int]:
    """Column index of every field, and the index of the first data row."""
    fields = (*spec.text_fields, "label")
    header = {name: i for i, name in enumerate(first)}
    if any(name in header for names in spec.columns.values() for name in names):
        positions = {}
        for f in fields:
            found = [header[n] for n in spec.columns[f] if n in header]
            if not found:
                raise DataError(
                    f"{path}: header {first} has no column for {f!r} (expected one of {list(spec.columns[f])})"
                )
            positions[f] = found[0]
        return positions, 1
    if len(first) in spec.headerless:
        return spec.headerless[len(first)], 0
    expected = " | ".join(" ".join(names) for names in spec.columns.values())
    raise DataError(
        f"{path}: the first line is neither a header naming the columns ({expected}) nor a "
        f"headerless {spec.name} row with {sorted(spec.headerless) or 'a known number of'} columns"
    )


def _parse_label(raw: str, spec: TaskSpec, where: str) -> int | float:
    value = raw.strip()
    if spec.is_regression:
        try:
            return float(value)
        except ValueError:
            raise DataError(f"{where}: label {raw!r} is not a number (task {spec.name} is a regression)") from None
    if value in spec.label_names:
        return spec.label_names.index(value)
    try:
        label = int(value)
    except ValueError:
        names = f" or one of {list(spec.label_names)}" if spec.label_names else ""
        raise DataError(f"{where}: label {raw!r} is not an integer{names}") from None
    if not 0 <= label < spec.num_labels:
        raise DataError(f"{where}: label {label} is outside 0..{spec.num_labels - 1} for task {spec.name}")
    return label


def glue_files(root: Path, spec: TaskSpec) -> dict[str, Path]:
    """``{"train": path, "dev": path}`` under ``<root>/glue/<task>/``, with a clear error if absent."""
    folder = root / "glue" / spec.name
    train = folder / "train.tsv"
    devs = [folder / name for name in spec.dev_files]
    dev = next((p for p in devs if p.is_file()), devs[0])
    missing = [p for p in (train, dev) if not p.is_file()]
    if missing:
        raise DataError(
            f"missing {', '.join(str(p) for p in missing)}. A local GLUE folder must hold "
            f"<root>/glue/{spec.name}/train.tsv and <root>/glue/{spec.name}/{spec.dev_files[0]} in "
            "GLUE's TSV layout; set data.root (or DISTILL_ZOO_DATA) to the folder that contains "
            "glue/, or use data.source=hub"
        )
    return {"train": train, "dev": dev}
