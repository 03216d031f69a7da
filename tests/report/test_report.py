"""The report's rows: numbers from results.json, unlike runs apart, baselines, failed jobs."""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import replace

import numpy as np
import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.record import StageInfo
from distill_zoo.report import build_report, write_report
from tests.report.synthetic import dev_labels, record, simulated_run, simulated_sweep, write_run


def rows_by_label(report):
    return {(r.task, r.label): r for r in report.rows}


def read_csv(path):
    with open(path, newline="") as handle:
        return {(r["task"], r["method"]): r for r in csv.DictReader(handle)}


def test_summary_csv_holds_the_numbers_of_the_results_files(tmp_path):
    simulated_sweep(tmp_path / "sweep", {"none": 0.80, "kd": 0.86}, seeds=(1, 2, 3), n=400)
    report = build_report([tmp_path / "sweep"], replicates=200)
    paths = write_report(report, tmp_path / "out")
    table = read_csv(paths["csv"])
    assert set(table) == {("sst2", "none"), ("sst2", "kd")}
    results = {}
    for path in (tmp_path / "sweep").rglob("results.json"):
        payload = json.loads(path.read_text())
        results[(payload["method"], payload["seed"])] = payload
    for method in ("none", "kd"):
        runs = [results[(method, s)] for s in (1, 2, 3)]
        scores = [r["student"]["metrics"]["acc"] for r in runs]
        row = table[("sst2", method)]
        assert int(row["n"]) == 3 and row["seeds"] == "1;2;3"
        assert float(row["mean"]) == pytest.approx(sum(scores) / 3, rel=1e-12)
        assert float(row["std"]) == pytest.approx(statistics.stdev(scores), rel=1e-12)
        assert [float(v) for v in row["scores"].split(";")] == scores
        assert float(row["teacher"]) == runs[0]["teacher"]["metrics"]["acc"]
        assert float(row["retention"]) == pytest.approx(
            sum(s / r["teacher"]["metrics"]["acc"] for s, r in zip(scores, runs)) / 3
        )
        assert int(row["params"]) == runs[0]["student"]["params"]
        assert float(row["latency_ms"]) == pytest.approx(sum(r["student"]["latency_ms_median"] for r in runs) / 3)
        assert float(row["speedup"]) == pytest.approx(sum(r["speedup"] for r in runs) / 3)
        assert float(row["agreement"]) == pytest.approx(sum(r["agreement"] for r in runs) / 3)
        assert float(row["teacher_ece"]) == pytest.approx(0.05)
        assert float(row["student_ece"]) == pytest.approx(sum(r["student"]["ece"] for r in runs) / 3)
        assert float(row["loss"]) == pytest.approx(sum(r["final_losses"]["train/loss"] for r in runs) / 3)
        assert float(row["loss_kd"]) == pytest.approx(sum(r["final_losses"]["train/loss_kd"] for r in runs) / 3)
        assert float(row["test_mean"]) == pytest.approx(sum(r["test"]["student"]["acc"] for r in runs) / 3)
        assert row["steps"] == "100" and row["teacher_entry"] == "t1" and row["student_init"] == "pretrained"
    assert "gradnorm" not in ",".join(next(iter(table.values())))  # only loss terms become loss columns
    kd, none = table[("sst2", "kd")], table[("sst2", "none")]
    by_hand = statistics.fmean(
        results[("kd", s)]["student"]["metrics"]["acc"] - results[("none", s)]["student"]["metrics"]["acc"]
        for s in (1, 2, 3)
    )
    assert float(kd["delta"]) == pytest.approx(by_hand, rel=1e-12)
    assert float(kd["ci_low"]) < by_hand < float(kd["ci_high"])
    assert float(none["delta"]) == 0.0 and none["ci_low"] == "" and none["is_baseline"] == "True"
    assert kd["note"] == "" and none["note"] == ""


def test_runs_that_differ_in_more_than_the_seed_get_their_own_labelled_rows(tmp_path):
    labels = dev_labels(200)
    weights = {"name": "distilbert", "weights": {"cos": 1.0, "mlm": 5.0}}
    variants = {
        "a": {},
        "b": {"method_config": {**weights, "weights": {"cos": 0.0, "mlm": 5.0}}},
        "c": {"student_init": "random"},
    }
    for name, changes in variants.items():
        for seed in (1, 2):
            changes = {"method_config": weights, **changes}
            simulated_run(tmp_path / f"{name}{seed}", "distilbert", seed, labels, 0.8, **changes)
    rows = rows_by_label(build_report([tmp_path], replicates=0))
    assert set(rows) == {
        ("sst2", "distilbert"),
        ("sst2", "distilbert [method_config.weights.cos=0.0]"),
        ("sst2", "distilbert [student_init=random]"),
    }
    assert all(r.n == 2 for r in rows.values())
    assert rows[("sst2", "distilbert [student_init=random]")].student_init == "random"


def test_two_configurations_are_both_labelled(tmp_path):
    labels = dev_labels(100)
    for temperature in (2.0, 4.0):
        simulated_run(
            tmp_path / f"t{temperature}", "kd", 1, labels, 0.8, method_config={"name": "kd", "temperature": temperature}
        )
    labels_seen = {r.label for r in build_report([tmp_path], replicates=0).rows}
    assert labels_seen == {"kd [method_config.temperature=2.0]", "kd [method_config.temperature=4.0]"}


def test_seeds_that_read_the_teacher_differently_are_not_merged_but_share_the_baseline(tmp_path):
    """Cached teacher outputs equal the live teacher only up to rounding: a row never mixes the
    two, while the ``none`` baseline (which reads no teacher) still serves both rows."""
    labels = dev_labels(200)
    for seed in (1, 2):
        simulated_run(tmp_path / f"none{seed}", "none", seed, labels, 0.8, teacher_signal="none")
        simulated_run(tmp_path / f"live{seed}", "kd", seed, labels, 0.85, teacher_signal="live")
        simulated_run(tmp_path / f"cache{seed}", "kd", seed, labels, 0.85, teacher_signal="cache: logits")
    rows = rows_by_label(build_report([tmp_path], replicates=0))
    kd = {label: row for (task, label), row in rows.items() if row.method == "kd"}
    assert sorted(kd) == ["kd [teacher_signal=cache: logits]", "kd [teacher_signal=live]"]
    assert all(row.n == 2 and row.delta is not None and not row.notes for row in kd.values())


def test_a_seed_counted_twice_is_an_error_naming_it(tmp_path):
    write_run(tmp_path / "a", record("kd", seed=3))
    write_run(tmp_path / "b", record("kd", seed=3, student_metrics={"acc": 0.7}))
    with pytest.raises(ConfigError, match=r"seed\(s\) counted twice: \[3, 3\]"):
        build_report([tmp_path])


def test_a_row_without_a_matching_baseline_gets_a_note(tmp_path):
    labels = dev_labels(200)
    simulated_run(tmp_path / "none", "none", 1, labels, 0.8)
    simulated_run(tmp_path / "kd", "kd", 1, labels, 0.85, teacher_entry="t2")
    rows = rows_by_label(build_report([tmp_path]))
    kd = rows[("sst2", "kd")]
    assert kd.delta is None and kd.ci_low is None
    assert kd.notes == [
        "no baseline 'none' with the same teacher/student/budget (the nearest differs in teacher_entry)"
    ]
    other = rows_by_label(build_report([tmp_path], baseline="minilm"))[("sst2", "kd")]
    assert other.notes == ["no baseline 'minilm' with the same teacher/student/budget"]


def test_the_baseline_must_match_everything_but_the_method(tmp_path):
    """A different method_config or callbacks is the method; another budget is not."""
    labels = dev_labels(200)
    simulated_run(tmp_path / "n1", "none", 1, labels, 0.8)
    simulated_run(tmp_path / "k1", "kd", 1, labels, 0.85, config={"callbacks": {"x": 1}})
    simulated_run(tmp_path / "k2", "kd", 1, labels, 0.85, budget={"max_epochs": 9, "batch_size": 32, "steps_done": 9})
    rows = build_report([tmp_path], replicates=50).rows
    matched = [r for r in rows if r.method == "kd" and r.delta is not None]
    unmatched = [r for r in rows if r.method == "kd" and r.delta is None]
    assert len(matched) == 1 and matched[0].signature["callbacks"] == {"x": 1} and matched[0].ci_low is None  # 1 seed
    assert len(unmatched) == 1 and "budget.max_epochs" in unmatched[0].notes[0]


def test_missing_predictions_keep_the_delta_and_leave_the_interval_empty(tmp_path):
    labels = dev_labels(200)
    for seed in (1, 2):
        simulated_run(tmp_path / f"n{seed}", "none", seed, labels, 0.8)
        simulated_run(tmp_path / f"k{seed}", "kd", seed, labels, 0.9, with_predictions=seed == 1)
    rows = rows_by_label(build_report([tmp_path]))
    kd, none = rows[("sst2", "kd")], rows[("sst2", "none")]
    assert kd.delta == pytest.approx(statistics.fmean(kd.scores[s] - none.scores[s] for s in (1, 2)))
    assert kd.ci_low is None and kd.ci_high is None
    assert len(kd.notes) == 1 and kd.notes[0].startswith("no CI: no predictions.json in ") and "k2" in kd.notes[0]


def test_predictions_that_do_not_reproduce_the_record_give_no_interval(tmp_path):
    labels = dev_labels(200)
    for seed in (1, 2):
        simulated_run(tmp_path / f"n{seed}", "none", seed, labels, 0.8)
        simulated_run(tmp_path / f"k{seed}", "kd", seed, labels, 0.9)
    path = tmp_path / "k1" / "predictions.json"
    payload = json.loads(path.read_text())
    payload["student"] = payload["labels"]
    path.write_text(json.dumps(payload))
    kd = rows_by_label(build_report([tmp_path]))[("sst2", "kd")]
    assert kd.delta is not None and kd.ci_low is None
    assert "gives acc 1.000000, its results.json" in kd.notes[0]


def test_only_shared_seeds_enter_the_delta(tmp_path):
    labels = dev_labels(200)
    for seed in (1, 2, 3):
        simulated_run(tmp_path / f"n{seed}", "none", seed, labels, 0.8)
    for seed in (2, 3, 4):
        simulated_run(tmp_path / f"k{seed}", "kd", seed, labels, 0.9)
    rows = rows_by_label(build_report([tmp_path], replicates=100))
    kd, none = rows[("sst2", "kd")], rows[("sst2", "none")]
    assert kd.delta == pytest.approx(statistics.fmean(kd.scores[s] - none.scores[s] for s in (2, 3)))
    assert kd.notes == ["delta over the seeds both have: [2, 3]"] and kd.ci_low is not None


def test_regression_rows_get_an_interval_from_their_predictions(tmp_path):
    simulated_sweep(tmp_path, {"none": 0.5, "kd": 0.9}, seeds=(1, 2, 3), n=300, task="stsb")
    kd = rows_by_label(build_report([tmp_path], replicates=200))[("stsb", "kd")]
    assert kd.metric == "pearson" and kd.notes == []
    assert 0 < kd.ci_low < kd.delta < kd.ci_high


def test_another_metric_than_the_main_one(tmp_path):
    simulated_sweep(tmp_path, {"none": 0.7, "kd": 0.8}, seeds=(1, 2), n=300, task="cola")
    main = rows_by_label(build_report([tmp_path], replicates=0))[("cola", "kd")]
    acc = rows_by_label(build_report([tmp_path], metric="acc", replicates=50))[("cola", "kd")]
    assert main.metric == "mcc" and acc.metric == "acc"
    assert acc.mean == pytest.approx(statistics.fmean(r.record.student.metrics["acc"] for r in acc.runs))
    assert acc.mean != main.mean and acc.ci_low is not None
    bleu = rows_by_label(build_report([tmp_path], metric="bleu"))[("cola", "kd")]
    assert bleu.mean is None and bleu.delta is None
    assert bleu.notes == ["no 'bleu' in the results of seed(s) [1, 2] (they report acc, mcc)"]


def test_failed_missing_and_unreadable_jobs_are_listed(tmp_path):
    sweep = tmp_path / "sweep"
    simulated_sweep(sweep, {"none": 0.8, "kd": 0.85}, seeds=(1,), n=100)
    crashed = write_run(sweep / "2_tinybert_seed1", None)
    (crashed / "run.log").write_text("[INFO] training\nRuntimeError: CUDA out of memory\n[INFO] done\n")
    failed = write_run(sweep / "3_minilm_seed1", None)
    (failed / "failed.json").write_text(json.dumps({"error": "teacher cache is locked", "type": "TimeoutError"}))
    chain = write_run(sweep / "4_chain_seed1", None)
    write_run(
        chain / "0_intermediate", record("tinybert", stage=StageInfo("two_step", "intermediate", 0, 2)), hydra=False
    )
    old = write_run(sweep / "5_old_seed1", None)
    (old / "results.json").write_text(json.dumps({"task": "sst2", "record_version": 1}))
    report = build_report([sweep], replicates=0)
    reasons = {f.path.rsplit("/", 1)[-1]: f.reason for f in report.failed}
    assert reasons == {
        "2_tinybert_seed1": "no results.json; log: RuntimeError: CUDA out of memory",
        "3_minilm_seed1": "failed: TimeoutError: teacher cache is locked",
        "4_chain_seed1": "stopped after stage 1 of 2 (no results.json for the final stage)",
    }
    assert len(report.unreadable) == 1 and "record version 1" in report.unreadable[0][1]
    assert {r.label for r in report.rows} == {"none", "kd"}


def test_a_folder_given_twice_or_nested_counts_its_runs_once(tmp_path):
    simulated_sweep(tmp_path / "s", {"kd": 0.8}, seeds=(1,), n=50)
    report = build_report([tmp_path / "s", tmp_path, tmp_path / "s" / "0_kd_seed1"], replicates=0)
    assert [r.n for r in report.rows] == [1]
    with pytest.raises(ConfigError, match="no such folder"):
        build_report([tmp_path / "missing"])


def test_chains_compare_final_stages_only(tmp_path):
    inter, final = StageInfo("two_step", "intermediate", 0, 2), StageInfo("two_step", "prediction", 1, 2)
    write_run(tmp_path / "0", record("tinybert", 1, stage=inter, student_metrics={"acc": 0.5}))
    write_run(tmp_path / "1", record("tinybert", 1, stage=final, student_metrics={"acc": 0.8}))
    rows = build_report([tmp_path], replicates=0).rows
    assert len(rows) == 1 and rows[0].stage == "two_step/prediction" and rows[0].mean == 0.8
    assert np.isclose(rows[0].std, 0.0)


def test_corpus_runs_are_rows_without_scores_whatever_the_metric(tmp_path):
    from distill_zoo.pipeline.record import ModelReport

    general = record("minilm", 1)  # then made a corpus run: no task, no metrics
    write_run(
        tmp_path / "general",
        replace(
            general,
            task=None,
            corpus="rt.txt",
            main_metric=None,
            retention=None,
            student=ModelReport(path="s"),
            teacher=ModelReport(path="t"),
            test=None,
        ),
    )
    simulated_sweep(tmp_path / "sweep", {"none": 0.8}, seeds=(1,), n=50)
    rows = rows_by_label(build_report([tmp_path], metric="acc", replicates=0))
    general = rows[("corpus:rt.txt", "minilm")]
    assert general.metric is None and general.mean is None and general.notes == []
    assert rows[("sst2", "none")].mean is not None
    write_report(build_report([tmp_path], replicates=0), tmp_path / "out")  # plots skip rows without scores
