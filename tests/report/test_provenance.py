"""Seeds and baseline pairs of another commit, library version or machine: merged with a note, or refused."""

from __future__ import annotations

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.report import build_report, write_report
from distill_zoo.report.cli import main
from distill_zoo.report.provenance import seed_notes
from tests.report.synthetic import dev_labels, record, simulated_run

COMMIT_A = "1a2b3c4" + "a" * 33
COMMIT_B = "5d6e7f8" + "b" * 33
VERSIONS = {"python": "3.12.3", "torch": "2.13.0", "transformers": "4.60.0"}
SAME = {
    "git_commit": COMMIT_A,
    "versions": VERSIONS,
    "hardware": "x86_64 16 cores, cpu, torch threads 16",
}
#: A field changed for seed 3, and the note that names it.
ODD_SEED = {
    "git_commit": (
        {"git_commit": COMMIT_B + "+dirty"},
        "seeds differ in git_commit: 1a2b3c4 (seeds 1, 2), 5d6e7f8+dirty (seed 3)",
    ),
    "dirty": (
        {"git_commit": COMMIT_A + "+dirty"},
        "seeds differ in git_commit: 1a2b3c4 (seeds 1, 2), 1a2b3c4+dirty (seed 3)",
    ),
    "versions": (
        {"versions": {**VERSIONS, "torch": "2.14.1"}},
        "seeds differ in versions.torch: 2.13.0 (seeds 1, 2), 2.14.1 (seed 3)",
    ),
    "hardware": (
        {"hardware": "x86_64 16 cores, NVIDIA H100, torch threads 16"},
        "seeds differ in hardware: x86_64 16 cores, cpu, torch threads 16 (seeds 1, 2), "
        "x86_64 16 cores, NVIDIA H100, torch threads 16 (seed 3)",
    ),
}


def sweep(root, kd_seed3=None, kd_all=None):
    """``none`` and ``kd`` x seeds 1-3 of one configuration, all of provenance SAME but
    ``kd_seed3`` (kd's seed 3) and ``kd_all`` (every kd seed)."""
    labels = dev_labels(200)
    for seed in (1, 2, 3):
        simulated_run(root / f"none{seed}", "none", seed, labels, 0.80, **SAME)
        kd = {**SAME, **(kd_all or {}), **((kd_seed3 or {}) if seed == 3 else {})}
        simulated_run(root / f"kd{seed}", "kd", seed, labels, 0.85, **kd)
    return root


def rows(report):
    return {row.label: row for row in report.rows}


@pytest.mark.parametrize("field", sorted(ODD_SEED))
def test_seeds_of_another_provenance_are_merged_with_a_note_naming_each_value(tmp_path, field, capsys):
    changes, note = ODD_SEED[field]
    report = build_report([sweep(tmp_path / "runs", kd_seed3=changes)], replicates=0)
    kd = rows(report)["kd"]
    assert len(report.rows) == 2 and kd.n == 3 and kd.seeds == [1, 2, 3]
    assert kd.notes[0] == note and kd.provenance[0] == note
    assert rows(report)["none"].notes == []
    write_report(report, tmp_path / "out")
    assert f"- sst2 / kd: {note}" in (tmp_path / "out" / "summary.md").read_text()
    assert main([str(tmp_path / "runs"), "--bootstrap", "0", "--out", str(tmp_path / "printed")]) == 0
    assert f"- sst2 / kd: {note}" in capsys.readouterr().out


def test_identical_provenance_gives_no_note(tmp_path):
    report = build_report([sweep(tmp_path)], replicates=0)
    assert [(row.label, row.n, row.notes, row.provenance) for row in report.rows] == [
        ("none", 3, [], []),
        ("kd", 3, [], []),
    ]


def test_a_delta_over_runs_of_other_code_names_both_sides(tmp_path):
    other = {"git_commit": COMMIT_B, "versions": {**VERSIONS, "torch": "2.14.1"}}
    report = build_report([sweep(tmp_path, kd_all=other)], replicates=0)
    kd = rows(report)["kd"]
    expected = [
        "delta pairs runs that differ in git_commit: kd 5d6e7f8 vs 'none' 1a2b3c4 (seeds 1, 2, 3)",
        "delta pairs runs that differ in versions.torch: kd 2.14.1 vs 'none' 2.13.0 (seeds 1, 2, 3)",
    ]
    assert kd.delta is not None and kd.notes == expected and kd.provenance == expected
    assert rows(report)["none"].notes == []


def test_commits_that_would_look_alike_shortened_are_shown_in_full():
    twin = "1a2b3c4" + "c" * 33
    notes = seed_notes([record(seed=1, git_commit=COMMIT_A), record(seed=2, git_commit=twin)])
    assert notes == [f"seeds differ in git_commit: {COMMIT_A} (seed 1), {twin} (seed 2)"]
    assert seed_notes([record(seed=1, git_commit=None), record(seed=2, git_commit=COMMIT_A)]) == [
        "seeds differ in git_commit: unrecorded (seed 1), 1a2b3c4 (seed 2)"
    ]


def test_strict_refuses_mixed_provenance_and_writes_nothing(tmp_path, capsys):
    runs = sweep(tmp_path / "runs", kd_seed3=ODD_SEED["git_commit"][0])
    assert main([str(runs), "--bootstrap", "0", "--strict"]) == 2
    err = capsys.readouterr().err
    assert "--strict" in err and "sst2 / kd" in err
    assert "git_commit: 1a2b3c4 (seeds 1, 2), 5d6e7f8+dirty (seed 3)" in err
    assert "rerun the odd seeds at one commit" in err and "drop --strict" in err
    assert not (runs / "report").exists()
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.md").write_text("an earlier report")
    assert main([str(runs), "--bootstrap", "0", "--strict", "--out", str(out)]) == 2
    assert [p.name for p in out.iterdir()] == ["summary.md"]
    assert (out / "summary.md").read_text() == "an earlier report"


def test_strict_refuses_a_delta_over_runs_of_other_versions(tmp_path):
    runs = sweep(tmp_path, kd_all={"versions": {**VERSIONS, "torch": "2.14.1"}})
    with pytest.raises(ConfigError, match=r"sst2 / kd: delta pairs runs that differ in versions\.torch"):
        build_report([runs], replicates=0, strict=True)


def test_strict_passes_when_provenance_matches(tmp_path, capsys):
    runs = sweep(tmp_path / "runs")
    assert main([str(runs), "--bootstrap", "0", "--strict"]) == 0
    assert "| sst2 | kd " in capsys.readouterr().out
    assert (runs / "report" / "summary.md").is_file()
