"""Where the runs a row merges, or a delta pairs, come from different code, libraries or machines.

Provenance is a record's ``git_commit`` (with ``+dirty`` when the checkout had local
changes), its ``versions`` (Python and the packages of :func:`distill_zoo.pipeline.record.package_versions`)
and its ``hardware``. It is not part of :meth:`RunRecord.comparable`: seeds of one
configuration run at two commits are still seeds of that configuration, so the report
merges them, and every number that mixes provenances says so in a note naming the field
and each value with its seeds. ``--strict`` refuses such a report instead
(:func:`distill_zoo.report.build.build_report`).

Two runs at one ``<commit>+dirty`` count as one provenance: the record cannot tell two
sets of local changes apart.
"""

from __future__ import annotations

from collections import defaultdict

from distill_zoo.pipeline.record import RunRecord

#: What a table shows for a provenance field a record does not hold (older records, no git checkout).
ABSENT = "unrecorded"
#: Hex digits a commit is shown with, unless two shown commits would look alike.
SHORT_COMMIT = 7


def provenance(record: RunRecord) -> dict[str, str]:
    """The record's provenance, one shown value per dotted field (``versions.torch``)."""
    fields = {"git_commit": record.git_commit or ABSENT, "hardware": record.hardware or ABSENT}
    return fields | {f"versions.{name}": version for name, version in record.versions.items()}


def seed_notes(records: list[RunRecord]) -> list[str]:
    """One note per provenance field whose value differs among the seeds of one row:
    ``seeds differ in git_commit: 1a2b3c4 (seeds 1, 2), 5d6e7f8+dirty (seed 3)``."""
    fields = [provenance(r) for r in records]
    notes = []
    for key in _differing([(fields[0], f) for f in fields]):
        values = [f.get(key, ABSENT) for f in fields]
        shown = _shown(key, values)
        notes.append(f"seeds differ in {key}: {_by_value([shown[v] for v in values], [r.seed for r in records])}")
    return notes


def pair_notes(label: str, records: list[RunRecord], base_label: str, base_records: list[RunRecord]) -> list[str]:
    """One note per provenance field where a delta pairs runs that differ, ``records`` holding
    the row's run of each shared seed and ``base_records`` the baseline's, in one order; only
    the pairs that differ are named:
    ``delta pairs runs that differ in versions.torch: kd 2.14.1 vs 'none' 2.13.0 (seeds 1, 2)``."""
    pairs = [(provenance(a), provenance(b)) for a, b in zip(records, base_records)]
    notes = []
    for key in _differing(pairs):
        values = [(a.get(key, ABSENT), b.get(key, ABSENT)) for a, b in pairs]
        shown = _shown(key, [v for pair in values for v in pair])
        odd = [(mine, theirs, r.seed) for (mine, theirs), r in zip(values, records) if mine != theirs]
        texts = [f"{label} {shown[mine]} vs '{base_label}' {shown[theirs]}" for mine, theirs, _ in odd]
        notes.append(f"delta pairs runs that differ in {key}: {_by_value(texts, [seed for _, _, seed in odd])}")
    return notes


def _differing(pairs: list[tuple[dict[str, str], dict[str, str]]]) -> list[str]:
    """The fields where the two runs of some pair differ (a field one lacks is ``unrecorded``)."""
    keys = sorted({key for pair in pairs for fields in pair for key in fields})
    return [key for key in keys if any(a.get(key, ABSENT) != b.get(key, ABSENT) for a, b in pairs)]


def _shown(key: str, values: list[str]) -> dict[str, str]:
    """How each value is written: commits shortened (the ``+dirty`` marker kept) unless
    that would make two of them look alike."""
    distinct = sorted(set(values))
    if key != "git_commit":
        return {v: v for v in distinct}
    short = {v: _short_commit(v) for v in distinct}
    return short if len(set(short.values())) == len(distinct) else {v: v for v in distinct}


def _short_commit(value: str) -> str:
    if value == ABSENT:
        return value
    commit, plus, marker = value.partition("+")
    return commit[:SHORT_COMMIT] + plus + marker


def _by_value(values: list[str], seeds: list[int]) -> str:
    """``a (seeds 1, 2), b (seed 3)``, values in the order of their first seed."""
    groups: dict[str, list[int]] = defaultdict(list)
    for value, seed in sorted(zip(values, seeds), key=lambda pair: pair[1]):
        groups[value].append(seed)
    return ", ".join(
        f"{value} (seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))})" for value, s in groups.items()
    )
