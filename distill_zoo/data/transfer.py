"""Transfer sets: unlabelled text the teacher scores and the student learns from (``data.transfer``).

Distillation's value shows when the student trains on more text than has labels (Hinton
et al. 2015, section 2; Tang et al. 2019; TinyBERT's augmentation): the teacher labels
the transfer set with its soft targets. Three sources:

* ``train_rest``: the task's training split beyond the labelled subset
  (``data.max_train_samples``), labels withheld: the usual low-resource simulation.
* ``file``: one text per line (a pair task: two texts split by a tab), or the named
  ``columns`` of a TSV with a header.
* ``corpus``: raw sentences, one per line (a single-sentence task only), such as the
  movie-review corpus the Stanford Sentiment Treebank was cut from.

Every source goes through the same two steps, in this order: rows whose text (any of
its fields) holds an evaluation text (dev, ``eval.test_file``) are dropped, compared by
:func:`~distill_zoo.data.text.normalise_for_overlap` (case, whitespace, PTB tokenisation);
then ``max_samples`` rows are drawn with ``subset_seed`` (the same rows for every method
and seed). :class:`TransferCounts` says how many rows each step kept.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from distill_zoo.data.tasks import TaskSpec
from distill_zoo.data.text import lines_holding, read_utf8
from distill_zoo.data.tsv import Example
from distill_zoo.errors import ConfigError, DataError
from distill_zoo.labels import unlabelled

SOURCES = ("train_rest", "file", "corpus")


@dataclass(frozen=True)
class TransferOptions:
    """``data.transfer``, checked.

    Attributes:
        source: ``train_rest``, ``file`` or ``corpus``.
        path: the file (``file``, ``corpus``); unused by ``train_rest``.
        columns: ``file`` only: TSV header names of the text fields, in the task's order;
            None reads one text per line (pairs: ``text1<TAB>text2``).
        max_samples: keep at most this many rows (after the leakage filter); None keeps all.
        subset_seed: draws the kept rows.
    """

    source: str
    path: str | None = None
    columns: tuple[str, ...] | None = None
    max_samples: int | None = None
    subset_seed: int = 0

    @classmethod
    def parse(cls, options: dict[str, Any], spec: TaskSpec) -> TransferOptions:
        """The options of ``data.transfer``; a ConfigError names a wrong one and its fix."""
        unknown = sorted(set(options) - {"source", "path", "columns", "max_samples", "subset_seed"})
        if unknown:
            raise ConfigError(
                f"unknown data.transfer option(s) {unknown}; the options are source, path, columns, "
                "max_samples, subset_seed"
            )
        source = options.get("source")
        if source not in SOURCES:
            raise ConfigError(f"data.transfer.source must be one of {list(SOURCES)}, got {source!r}")
        path, columns = options.get("path"), options.get("columns")
        if source == "train_rest" and (path or columns):
            raise ConfigError(
                "data.transfer.source=train_rest reads the task's own training split: drop data.transfer.path/columns"
            )
        if source != "train_rest" and not path:
            raise ConfigError(f"data.transfer.source={source} needs data.transfer.path (the text file to read)")
        if source == "corpus" and len(spec.text_fields) > 1:
            raise ConfigError(
                f"data.transfer.source=corpus gives single sentences, but {spec.name} takes sentence pairs; "
                "use source=file with pairs (text1<TAB>text2 per line, or columns=[...])"
            )
        if columns is not None:
            if source != "file":
                raise ConfigError("data.transfer.columns is for source=file (a TSV with a header); drop it")
            columns = tuple(str(c) for c in columns)
            if len(columns) != len(spec.text_fields):
                raise ConfigError(
                    f"data.transfer.columns names {len(columns)} column(s), but {spec.name} has "
                    f"{len(spec.text_fields)} text field(s) {list(spec.text_fields)}"
                )
        limit = options.get("max_samples")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ConfigError(f"data.transfer.max_samples must be a positive integer or null, got {limit!r}")
        seed = options.get("subset_seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"data.transfer.subset_seed must be an integer, got {seed!r}")
        return cls(source, str(Path(path).expanduser()) if path else None, columns, limit, seed)


@dataclass(frozen=True)
class TransferCounts:
    """What each step of building the transfer set kept (recorded with the run).

    Attributes:
        read: rows the source gave (blank lines skipped).
        eval_overlap: rows dropped because a text holds an evaluation text.
        kept: rows in the transfer set (after ``max_samples``).
        eval_texts: evaluation texts the filter compared against.
    """

    read: int
    eval_overlap: int
    kept: int
    eval_texts: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def build_transfer_set(
    options: TransferOptions,
    spec: TaskSpec,
    rest: Sequence[Example],
    eval_texts: Sequence[str],
) -> tuple[list[Example], TransferCounts]:
    """The transfer set's rows (text fields, and the task's "no label" sentinel) and its counts.

    Args:
        rest: the training rows outside the labelled subset (read by ``train_rest``).
        eval_texts: every text of the evaluation splits; a row holding one is dropped.
    """
    fields = spec.text_fields
    if options.source == "train_rest":
        texts = [tuple(str(row[f]) for f in fields) for row in rest]
        if not texts:
            raise ConfigError(
                "data.transfer.source=train_rest is empty: data.max_train_samples keeps the whole training "
                "split; set data.max_train_samples below its size (the labelled subset)"
            )
    else:
        assert options.path is not None, "parse() requires a path"
        texts = _read_texts(Path(options.path), len(fields), options.columns)
    kept = drop_rows_containing(texts, eval_texts)
    if not kept:
        raise DataError(
            f"the transfer set is empty: all {len(texts)} rows of {options.source} hold an evaluation "
            "text; use another source"
        )
    overlap = len(texts) - len(kept)
    if options.max_samples is not None and options.max_samples < len(kept):
        index = sorted(random.Random(options.subset_seed).sample(range(len(kept)), options.max_samples))
        kept = [kept[i] for i in index]
    label = unlabelled(spec.is_regression)
    rows: list[Example] = [{**dict(zip(fields, row)), "label": label} for row in kept]
    return rows, TransferCounts(len(texts), overlap, len(rows), len(set(eval_texts)))


def drop_rows_containing(rows: Sequence[tuple[str, ...]], sentences: Iterable[str]) -> list[tuple[str, ...]]:
    """``rows`` without those of which any text holds one of ``sentences``
    (:func:`~distill_zoo.data.text.lines_holding`, field by field); order kept."""
    sentences = list(sentences)
    leaks = [False] * len(rows)
    for column in range(len(rows[0]) if rows else 0):
        holds = lines_holding([row[column] for row in rows], sentences)
        leaks = [a or b for a, b in zip(leaks, holds)]
    return [row for row, leak in zip(rows, leaks) if not leak]


def _read_texts(path: Path, width: int, columns: tuple[str, ...] | None) -> list[tuple[str, ...]]:
    """Rows of ``width`` texts from ``path``: lines (pairs split by a tab), or TSV ``columns``."""
    if not path.is_file():
        raise DataError(f"missing transfer file {path}; set data.transfer.path to a text file (one text per line)")
    content = read_utf8(path)
    if columns is not None:
        table = list(csv.reader(io.StringIO(content, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
        header = table[0] if table else []
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(f"{path}: header {header} has no column(s) {missing} (data.transfer.columns)")
        at = [header.index(c) for c in columns]
        rows = []
        for line, row in enumerate(table[1:], start=2):
            if not row or row == [""]:
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{path}, line {line}: expected {len(header)} tab-separated columns (as in the header), "
                    f"found {len(row)}"
                )
            rows.append(tuple(row[i] for i in at))
    else:
        rows = []
        for line, text in enumerate(content.splitlines(), start=1):
            if not text.strip():
                continue
            parts = tuple(text.split("\t")) if width > 1 else (text,)
            if len(parts) != width:
                raise DataError(
                    f"{path}, line {line}: a sentence-pair task needs two texts split by one tab, found {len(parts)}"
                )
            rows.append(parts)
    if not rows:
        raise DataError(f"the transfer file {path} holds no text; give a file with one text per line")
    return [tuple(t.strip() for t in row) for row in rows if all(t.strip() for t in row)]
