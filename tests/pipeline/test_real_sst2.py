"""The packaged MiniLM-L6 teacher and a 3-layer student on a real SST-2 subset."""

from __future__ import annotations

import pytest

from distill_zoo.pipeline import run_pipeline
from tests.conftest import compose


@pytest.mark.slow
def test_distilbert_on_sst2_subset_with_the_packaged_teacher(tmp_path, shared_data):
    cfg = compose(
        [
            "method=distilbert",
            "data=sst2",
            f"data.root={shared_data}",
            "data.max_train_samples=800",
            "data.max_eval_samples=300",
            "data.max_length=40",
            "teacher.finetune.max_epochs=2",
            "trainer.max_epochs=2",
            "logger=none",
            "eval.latency_runs=5",
            "eval.latency_warmup=2",
        ],
        tmp_path,
    )
    results = run_pipeline(cfg)
    teacher, student = results.teacher, results.student
    assert teacher.params == 22_713_986
    assert student.params < teacher.params
    assert teacher.metrics["acc"] > 0.75, teacher
    assert student.metrics["acc"] > 0.65, student
    assert results.retention > 0.8 and results.student_init == "pretrained"
