"""Transfer-set runs end to end: one step budget for every method, the teacher on the labelled
rows only, the cache over the transfer rows, the record saying what was trained on, and bad
options refused before anything is trained."""

from __future__ import annotations

import pytest

from distill_zoo.errors import ConfigError, DataError
from distill_zoo.pipeline import run_pipeline
from distill_zoo.pipeline.schema import validate_config
from tests.conftest import TINY_RUN, compose, record_at, run_job

#: 16 labelled rows of the demo set (the teacher's too), every batch of an epoch trained.
LABELLED = [
    *TINY_RUN,
    "trainer.limit_train_batches=null",
    "data.max_train_samples=16",
    "teacher.finetune.max_train_samples=16",
]
#: ... and 60 of the rest as the transfer set: 5 batches of 16.
TRANSFER_RUN = [*LABELLED, "data.transfer={source: train_rest, max_samples: 60}"]


def _run(tmp_path, name: str, *overrides: str):
    folder = tmp_path / name
    run_job([*TRANSFER_RUN, *overrides, f"paths.output_dir={folder}"], tmp_path)
    return record_at(folder)


@pytest.mark.slow
def test_every_method_takes_the_same_steps_from_one_teacher_of_the_labelled_rows(tmp_path):
    kd = _run(tmp_path, "kd", "method=kd", "teacher_cache=features")
    live = _run(tmp_path, "kd_live", "method=kd", "teacher_cache=off")
    none = _run(tmp_path, "none", "method=none")
    pseudo = _run(tmp_path, "pseudo", "method=pseudo_label")
    assert {r.budget["steps_done"] for r in (kd, none, pseudo)} == {5}
    assert kd.budget["rows_per_epoch"] == {"labelled": 16, "transfer": 60, "distinct_labelled": 16}
    assert none.budget["rows_per_epoch"] == {"labelled": 76, "transfer": 0, "distinct_labelled": 16}
    assert kd.data["transfer_set"]["kept"] == 60 and kd.data["transfer_set"]["eval_texts"] == 200
    assert none.teacher_signal == "none" and kd.teacher_signal.startswith("cache: ")
    # The cache holds the transfer rows too: the cached teacher trains the student the live one does.
    for term, value in live.final_losses.items():
        assert kd.final_losses[term] == pytest.approx(value, rel=1e-5, abs=1e-6), term
    assert kd.student.metrics == live.student.metrics
    # One teacher for every method, fine-tuned on the 16 labelled rows, not on the transfer set.
    assert len({r.teacher_entry for r in (kd, none, pseudo)}) == 1
    plain = compose(LABELLED, tmp_path)
    from distill_zoo.pipeline.builders import build_datamodule
    from distill_zoo.pipeline.teacher_stage import teacher_cache_key

    assert kd.teacher_entry == teacher_cache_key(plain, build_datamodule(plain).train_digest())
    # The report pairs each method with `none` although their epochs hold different rows.
    from distill_zoo.report import build_report

    rows = {r.method: r for r in build_report([tmp_path], replicates=0).rows if r.signature["teacher_signal"] != "live"}
    assert rows["none"].is_baseline
    for method in ("kd", "pseudo_label"):
        assert rows[method].delta == pytest.approx(rows[method].mean - rows["none"].mean), rows[method].notes


def test_a_transfer_set_on_a_corpus_run_is_refused_with_the_fix(tmp_path):
    cfg = compose(
        [
            "data=corpus",
            "method=distilbert_mlm",
            "teacher=tiny_mlm",
            "student=tiny",
            "+data.transfer={source: train_rest}",
        ],
        tmp_path,
    )
    with pytest.raises(ConfigError, match="drop data.transfer, or pick a task"):
        validate_config(cfg)  # what run.py checks first, for every run and chain stage


@pytest.mark.parametrize(
    ("transfer", "error", "message"),
    [
        ("{source: file, path: nowhere.txt}", DataError, "missing transfer file"),
        ("{source: train_rest, max_samples: -3}", ConfigError, "positive integer"),
        ("{source: corpus}", ConfigError, "needs data.transfer.path"),
    ],
)
def test_bad_transfer_options_stop_before_the_teacher_trains(tmp_path, transfer, error, message):
    cfg = compose([*LABELLED, f"data.transfer={transfer}"], tmp_path)
    with pytest.raises(error, match=message):
        run_pipeline(cfg)
    teachers = tmp_path / "cache" / "teachers"
    assert not (teachers.exists() and any(not p.name.endswith(".lock") for p in teachers.iterdir()))
    assert not (tmp_path / "out" / "results.json").exists()
