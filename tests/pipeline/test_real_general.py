"""MiniLM general distillation from the packaged teacher on the real corpus, then the task."""

from __future__ import annotations

import pytest

from tests.conftest import record_at, run_job


@pytest.mark.slow
def test_minilm_general_then_sst2_with_the_packaged_teacher(tmp_path, shared_data):
    final = run_job(
        [
            "experiment=minilm_general_task",
            f"corpus.path={shared_data / 'corpus' / 'rt_snippets.txt'}",
            "corpus.max_length=32",
            "corpus.batch_size=8",
            "corpus.max_lines=800",  # about 80 steps of 8 blocks
            "general_epochs=1",
            "data=sst2",
            f"data.root={shared_data}",
            "data.max_train_samples=128",
            "data.max_eval_samples=64",
            "data.max_length=32",
            "teacher.finetune.max_epochs=1",
            "trainer.max_epochs=1",
            "logger=csv",
            "eval.latency_runs=5",
            "eval.latency_warmup=2",
            "optimizer.lr=3e-4",
        ],
        tmp_path,
    )
    general = record_at(tmp_path / "out" / "0_general")
    assert general.teacher.params == 22_713_986
    assert general.budget["steps_done"] >= 40, "tens of steps on the corpus"
    rows = next((tmp_path / "out" / "0_general" / "csv").rglob("metrics.csv")).read_text().splitlines()
    column = rows[0].split(",").index("train/loss")
    losses = [float(r.split(",")[column]) for r in rows[1:] if r.split(",")[column]]
    assert sum(losses[-2:]) / 2 < 0.8 * sum(losses[:2]) / 2, losses
    assert final.student_config["model"]["name_or_path"].endswith("0_general/student")
    assert final.student.params < final.teacher.params
    # No accuracy bar: at a test's budget the task stage's score is noise around chance (0.46
    # and 0.62 seen at 200 general steps); what the chain does with it is tested on tiny models.
