"""Sweep summaries: mean and spread over seeds, final stages only, and no merging of unlike runs."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.record import ModelReport, RunRecord, StageInfo, write_record
from distill_zoo.pipeline.summary import collect_results, format_summary, main, summarize


def record(method="kd", seed=1, acc=0.8, teacher="t1", stage=None, **changes) -> RunRecord:
    base = RunRecord(
        task="sst2",
        corpus=None,
        main_metric="acc",
        eval_split="dev",
        method=method,
        method_config={"name": method, "temperature": 2.0},
        seed=seed,
        stage=stage or StageInfo(),
        student_init="pretrained",
        student_name="half",
        student_config={"name": "half", "init": "pretrained"},
        teacher_entry=teacher,
        teacher_source={"name": "minilm_l6"},
        teacher=ModelReport(path=f"/cache/{teacher}", metrics={"acc": 0.9}, params=10),
        student=ModelReport(path="s", metrics={"acc": acc}, params=5),
        retention=acc / 0.9,
        speedup=2.0,
        compression=2.0,
        budget={"max_epochs": 4, "batch_size": 32, "steps_done": 100},
        trainer_options={"precision": "32-true"},
        final_losses={},
        wall_time_s=1.0,
        data={"task": "sst2", "max_train_samples": 2000},
    )
    return replace(base, **changes)


def save(root, name, rec: RunRecord) -> None:
    (root / name).mkdir(parents=True)
    write_record(root / name / "results.json", rec)


def test_mean_and_spread_over_seeds(tmp_path):
    for i, (m, s, a) in enumerate([("kd", 1, 0.80), ("kd", 2, 0.84), ("kd", 3, 0.83), ("none", 1, 0.7)]):
        save(tmp_path, f"{i}", record(m, s, a))
    rows = {r["method"]: r for r in summarize(collect_results(tmp_path).records)}
    assert rows["kd"]["mean"] == pytest.approx(statistics.fmean([0.80, 0.84, 0.83]))
    assert rows["kd"]["std"] == pytest.approx(statistics.stdev([0.80, 0.84, 0.83]))
    assert rows["kd"]["seeds"] == [1, 2, 3] and rows["kd"]["n"] == 3 and rows["none"]["std"] == 0.0
    assert rows["kd"]["teacher_entry"] == "t1"
    assert rows["kd"]["steps"] == [100] and rows["kd"]["params"] == 5 and rows["kd"]["speedup"] == 2.0
    text = format_summary(list(rows.values()))
    assert "0.8233 ± 0.0208 (3)" in text and "2.00x" in text and "WARNING" not in text


def test_different_teachers_are_flagged(tmp_path):
    rows = summarize([record("kd", 1, 0.8, teacher="t1"), record("none", 1, 0.7, teacher="t2")])
    assert "WARNING: sst2 rows distil from different teachers ['t1', 't2']" in format_summary(rows)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"teacher_entry": "t2"}, "teacher_entry"),
        ({"student_init": "finetuned"}, "student_init"),
        ({"budget": {"max_epochs": 2, "batch_size": 32, "steps_done": 50}}, "budget.max_epochs"),
        ({"method_config": {"name": "kd", "temperature": 4.0}}, "method_config.temperature"),
        ({"trainer_options": {"precision": "bf16-mixed"}}, "trainer_options.precision"),
        ({"data": {"task": "sst2", "max_train_samples": 4000}}, "data.max_train_samples"),
        ({"student_config": {"name": "half", "init": "pretrained", "layers": [0, 5]}}, "student.layers"),
    ],
)
def test_runs_that_differ_in_more_than_the_seed_are_never_merged(change, named):
    with pytest.raises(ConfigError, match=rf"differ in more than the seed: .*{named}"):
        summarize([record(seed=1), record(seed=2, **change)])


def test_one_seed_is_never_counted_twice():
    with pytest.raises(ConfigError, match=r"seed\(s\) counted twice: \[1, 1\]"):
        summarize([record(seed=1, acc=0.8), record(seed=1, acc=0.7)])


def test_chains_compare_their_final_students_only():
    """tinybert_two_step's intermediate student (untrained head) is not a second seed."""
    inter = StageInfo("tinybert_two_step", "intermediate", 0, 2)
    final = StageInfo("tinybert_two_step", "prediction", 1, 2)
    runs = [record("tinybert", 1, 0.5, stage=inter), record("tinybert", 1, 0.8, stage=final)]
    rows = summarize(runs)
    assert len(rows) == 1 and rows[0]["n"] == 1 and rows[0]["mean"] == 0.8
    assert rows[0]["stage"] == "tinybert_two_step/prediction"
    assert len(summarize(runs, stages="all")) == 2


def test_corpus_runs_have_their_own_rows_and_do_not_crash():
    general = record(
        "minilm",
        1,
        0.0,
        task=None,
        corpus="rt.txt",
        main_metric=None,
        retention=None,
        student=ModelReport(path="s"),
        teacher=ModelReport(path="t"),
    )
    rows = summarize([general, record("kd")], stages="all")
    assert {r["task"] for r in rows} == {"corpus:rt.txt", "sst2"}
    assert "corpus:rt.txt" in format_summary(rows)


def test_unreadable_results_are_listed_not_fatal(tmp_path, capsys):
    save(tmp_path, "good", record())
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text(json.dumps({"task": "sst2", "method": "kd"}))
    found = collect_results(tmp_path)
    assert len(found.records) == 1 and "record version None" in found.unreadable[0][1]
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "unreadable:" in out and "old/results.json" in out
    save(tmp_path, "clash", record(seed=1, acc=0.1))
    assert main([str(tmp_path)]) == 2
    assert "counted twice" in capsys.readouterr().err


def test_seeds_of_a_chain_merge_although_each_hands_on_its_own_folder():
    final = StageInfo("tinybert_two_step", "prediction", 1, 2)
    runs = [
        record(
            "tinybert",
            seed,
            0.8 + seed / 100,
            stage=final,
            student_name="previous",
            student_config={
                "name": "previous",
                "init": "checkpoint",
                "model": {"name_or_path": f"/sweep/{seed}/0_intermediate/student"},
            },
        )
        for seed in (1, 2)
    ]
    rows = summarize(runs)
    assert len(rows) == 1 and rows[0]["n"] == 2 and rows[0]["seeds"] == [1, 2]


def test_a_speedup_timed_under_unsteady_load_is_flagged(tmp_path):
    from distill_zoo.report.rows import _latency_notes

    steady = record("kd", 1)
    shaky = record("kd", 2, student=ModelReport(path="s", metrics={"acc": 0.8}, params=5, latency_unstable=True))
    assert _latency_notes([steady, steady]) == []
    assert _latency_notes([steady, shaky])[0].startswith("latency unstable in 1 of 2 runs")
    save(tmp_path, "a", steady)
    save(tmp_path, "b", shaky)
    text = format_summary(summarize(collect_results(tmp_path).records))
    assert "2.00x?" in text and "?: latency unstable in some runs" in text
    (tmp_path / "b" / "results.json").unlink()
    assert "2.00x?" not in format_summary(summarize(collect_results(tmp_path).records))
