"""Rows read back from the report's summary.csv, and ``--from-summary`` re-drawing its figures."""

from __future__ import annotations

import csv
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from distill_zoo.errors import DataError
from distill_zoo.pipeline.record import ModelReport
from distill_zoo.report import Row, build_report, read_summary_csv, write_report
from distill_zoo.report.cli import main
from tests.report.synthetic import dev_labels, record, simulated_run, write_run

#: The Row fields a summary.csv does not hold; a row read back has them empty.
NOT_IN_THE_FILE = {"runs", "signature", "provenance"}


def mixed_runs(root: Path) -> None:
    """Rows of every kind a report holds: a baseline and deltas with intervals, two labelled
    configurations of one method, a row sharing one seed with the baseline (a note holding
    ``; ``), a seed without a test file or a step count, perplexity rows that log different
    loss terms and a corpus run without a metric."""
    labels = dev_labels(300)
    for seed in (1, 2, 3):
        simulated_run(root / f"none{seed}", "none", seed, labels, 0.80)
        simulated_run(root / f"kd{seed}", "kd", seed, labels, 0.86)
        changes = {"method_config": {"name": "kd", "temperature": 4.0}}
        if seed == 3:
            changes |= {"test": None, "budget": {"max_epochs": 2, "batch_size": 32}}
        simulated_run(root / f"kd_t4_{seed}", "kd", seed, labels, 0.84, **changes)
    for seed in (3, 4):
        simulated_run(root / f"distilbert{seed}", "distilbert", seed, labels, 0.83)
    for method, ppl in (("clm", 120.5), ("lm_kd", 98.25)):
        base = record(method, 1, final_losses={"train/loss": 4.5} if method == "clm" else {"train/loss_div": 2.0})
        write_run(
            root / method,
            replace(
                base,
                task=None,
                corpus="rt.txt",
                main_metric="ppl_heldout",
                retention=0.5,
                test=None,
                student=replace(base.student, metrics={"ppl_heldout": ppl}),
                teacher=replace(base.teacher, metrics={"ppl_heldout": 60.0}),
            ),
        )
    general = record("minilm", 1)
    write_run(
        root / "general",
        replace(
            general,
            task=None,
            corpus="wiki.txt",
            main_metric=None,
            retention=None,
            test=None,
            student=ModelReport(path="s", params=5),
            teacher=ModelReport(path="t", params=9),
        ),
    )


@pytest.fixture
def written(tmp_path):
    """The report of :func:`mixed_runs` and the folder its files went into."""
    mixed_runs(tmp_path / "runs")
    report = build_report([tmp_path / "runs"], baseline="none", replicates=200)
    write_report(report, tmp_path / "report")
    return report, tmp_path / "report"


def assert_same_rows(rebuilt: list[Row], original: list[Row]) -> None:
    assert [r.label for r in rebuilt] == [r.label for r in original]
    for back, row in zip(rebuilt, original):
        for name in {f.name for f in fields(Row)} - NOT_IN_THE_FILE - {"notes"}:
            assert getattr(back, name) == getattr(row, name), (row.label, name)
        assert back.n == row.n and back.seeds == row.seeds
        assert back.notes == (["; ".join(row.notes)] if row.notes else [])
        assert back.runs == [] and back.signature == {} and back.provenance == []


def test_the_rows_of_a_summary_csv_equal_the_report_rows(written):
    report, folder = written
    rows = {r.label: r for r in report.rows}
    # The fixture holds what the file must carry: notes that hold "; ", a missing step count,
    # intervals, a perplexity and a row without a metric.
    assert any("; " in note for note in rows["distilbert"].notes)
    assert rows["kd [method_config.temperature=4.0]"].steps == [100, None]
    assert rows["kd [method_config.temperature=2.0]"].ci_low is not None
    assert rows["lm_kd"].metric == "ppl_heldout" and rows["minilm"].metric is None
    assert rows["clm"].losses == {"loss": 4.5} and rows["lm_kd"].losses == {"loss_div": 2.0}
    assert_same_rows(read_summary_csv(folder / "summary.csv"), report.rows)


@pytest.mark.slow
def test_the_rows_of_a_real_sweep_come_back_from_its_summary_csv(real_sweep, tmp_path):
    report = build_report([real_sweep], baseline="none", replicates=200)
    write_report(report, tmp_path)
    assert_same_rows(read_summary_csv(tmp_path / "summary.csv"), report.rows)


def edited_copy(path: Path, out: Path, column: str, cells: list[str] | None) -> Path:
    """``path`` written to ``out`` with ``column`` dropped (``cells`` None) or set to ``cells``
    (one per line; a column it lacks is added last)."""
    with open(path, newline="") as handle:
        table = [dict(line) for line in csv.DictReader(handle)]
    names = [name for name in table[0] if name != column] + ([column] if cells is not None else [])
    for i, line in enumerate(table):
        line.pop(column, None)
        if cells is not None:
            line[column] = cells[i]
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(table)
    return out


def test_a_missing_or_unknown_column_or_a_bad_cell_is_an_error_naming_the_file(written, tmp_path, capsys):
    path = written[1] / "summary.csv"
    lines = len(written[0].rows)
    unknown = edited_copy(path, tmp_path / "unknown.csv", "flops", ["1"] * lines)
    with pytest.raises(DataError, match=rf"{unknown}: unknown column 'flops'"):
        read_summary_csv(unknown)
    missing = edited_copy(path, tmp_path / "missing.csv", "teacher_params", None)
    with pytest.raises(DataError, match=rf"{missing}: no column 'teacher_params'"):
        read_summary_csv(missing)
    bad = edited_copy(path, tmp_path / "bad.csv", "mean", ["high"] * lines)
    with pytest.raises(DataError, match=rf"{bad}, line 2, column 'mean': 'high' is not a number"):
        read_summary_csv(bad)
    assert main(["--from-summary", str(unknown)]) == 2  # the command says so and exits, drawing nothing
    assert f"error: {unknown}: unknown column 'flops'" in capsys.readouterr().err
    assert not (tmp_path / "pareto.png").exists()


def test_scores_that_cannot_be_given_their_seeds_are_an_error(tmp_path):
    """A seed without the metric: the file lists its seed but not which score is whose."""
    labels = dev_labels(100)
    simulated_run(tmp_path / "runs" / "kd1", "kd", 1, labels, 0.8)
    odd = record("kd", 2)
    write_run(tmp_path / "runs" / "kd2", replace(odd, student=replace(odd.student, metrics={"f1": 0.5})))
    write_report(build_report([tmp_path / "runs"], replicates=0), tmp_path / "report")
    with pytest.raises(DataError, match=r"column 'scores': 1 scores for the seeds \[1, 2\]"):
        read_summary_csv(tmp_path / "report" / "summary.csv")


def test_from_summary_redraws_the_same_figures_and_writes_nothing_else(written, tmp_path, capsys):
    folder = written[1]
    kept = {name: (folder / name).read_bytes() for name in ("summary.csv", "summary.md")}
    out = tmp_path / "redrawn"
    assert main(["--from-summary", str(folder / "summary.csv"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "without recomputing anything" in printed and f"({len(written[0].rows)} rows)" in printed
    assert sorted(p.name for p in out.iterdir()) == ["pareto.png", "scores.png"]
    for name in ("scores.png", "pareto.png"):
        assert np.array_equal(imread(out / name), imread(folder / name)), name
    assert main(["--from-summary", str(folder / "summary.csv"), "--pareto-x", "params"]) == 0  # into its folder
    assert {name: (folder / name).read_bytes() for name in kept} == kept


def test_from_summary_refuses_what_it_cannot_honour(written, tmp_path, capsys):
    summary = str(written[1] / "summary.csv")
    assert main(["--from-summary", summary, "--bootstrap", "50", "--baseline", "kd"]) == 2
    assert "it takes no --baseline, --bootstrap" in capsys.readouterr().err
    assert main(["--from-summary", summary, str(tmp_path)]) == 2
    assert "it takes no DIR" in capsys.readouterr().err
    assert main(["--from-summary", str(tmp_path / "none.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main([]) == 2
    assert "--from-summary CSV" in capsys.readouterr().err
