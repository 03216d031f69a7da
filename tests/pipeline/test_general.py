"""General (corpus) distillation and the general -> task chain."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from distill_zoo.errors import ConfigError
from tests.conftest import TINY_RUN, record_at, run_job

CORPUS = ["corpus.max_lines=200", "corpus.max_length=32", "corpus.batch_size=8"]
GENERAL = [o for o in TINY_RUN if not o.startswith("data.")] + ["data=corpus", "teacher.finetune=null", "logger=none"]


def test_general_then_task_chain_on_tiny_models(tmp_path):
    final = run_job(
        [
            *TINY_RUN,
            "experiment=tinybert_general_task",
            "student=tiny",
            "teacher.model.num_layers=4",
            "logger=none",
            "general_epochs=1",
            *CORPUS,
        ],
        tmp_path,
    )
    out = tmp_path / "out"
    general = record_at(out / "0_general")
    assert general.task is None and general.budget["steps_done"] == 4  # trainer=debug: 4 batches
    assert general.corpus.endswith("rt_snippets.txt") and general.data["max_lines"] == 200
    assert general.teacher_entry is None and general.stage.name == "general" and not general.stage.final
    step1 = record_at(out / "1_task_intermediate")
    assert step1.student_config["model"]["name_or_path"] == str(out / "0_general" / "student")
    assert step1.method_config["stage"] == "intermediate" and step1.teacher_entry is not None
    assert final.method_config["stage"] == "prediction" and final.stage.final
    assert final.student_config["model"]["name_or_path"] == str(out / "1_task_intermediate" / "student")
    # The general stage's product is a Hugging Face checkpoint that changed during training.
    from distill_zoo.models.students import from_config
    from tests.conftest import tiny_bert

    trained = AutoModelForSequenceClassification.from_pretrained(out / "0_general" / "student")
    torch.manual_seed(1)
    assert trained.config.num_hidden_layers == 2
    assert not torch.equal(
        trained.bert.encoder.layer[0].attention.self.query.weight,
        from_config(tiny_bert(), 2, 2, 32, 2, 64).bert.encoder.layer[0].attention.self.query.weight,
    )


def test_general_run_rejects_objectives_that_read_task_logits(tmp_path):
    with pytest.raises(ConfigError, match="reads task logits"):
        run_job([*GENERAL, "method=kd", "data.max_lines=50"], tmp_path)
    assert not (tmp_path / "out" / "results.json").exists()


def test_minilm_general_run_on_a_corpus(tmp_path):
    results = run_job(
        [
            *GENERAL,
            "method=minilm",
            "method.weights.task=0",
            "callbacks=none",
            "data.max_lines=100",
            "data.max_length=32",
        ],
        tmp_path,
    )
    assert results.task is None and results.retention is None and results.budget["steps_done"] > 0
    assert {"train/loss_at", "train/loss_vr"} <= set(results.final_losses)
    assert "train/loss_task" not in results.final_losses


def test_general_run_through_run_py_exits_zero(tmp_path):
    """run.py used to raise KeyError('retention') after every general run (and fail its multirun job)."""
    from tests.helpers.cli import run_cli

    proc = run_cli(
        *GENERAL,
        "method=minilm",
        "method.weights.task=0",
        "callbacks=none",
        "data.max_lines=60",
        "data.max_length=32",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert record_at(tmp_path / "run").corpus.endswith("rt_snippets.txt")


def test_distilbert_general_distillation_with_a_tiny_masked_lm_teacher(tmp_path):
    results = run_job(
        [
            "experiment=distilbert_general",
            "teacher=tiny_mlm",
            "teacher.model.num_layers=4",
            "student=tiny",
            "+teacher.model.initializer_range=0.5",
            "trainer=debug",
            "trainer.limit_train_batches=24",
            "trainer.max_epochs=1",
            "logger=csv",
            "data.max_lines=800",
            "data.max_length=32",
            "data.batch_size=16",
            "optimizer.lr=3e-3",
            "warmup_ratio=0.0",
        ],
        tmp_path,
    )
    assert results.task is None and results.budget["steps_done"] == 24
    from transformers import AutoModelForMaskedLM

    student = AutoModelForMaskedLM.from_pretrained(tmp_path / "out" / "student")
    assert student.config.num_hidden_layers == 2 and type(student).__name__ == "BertForMaskedLM"
    # A student distilled from a random teacher with large weights starts far from it, so
    # every term has room to fall.
    rows = next((tmp_path / "out" / "csv").rglob("metrics.csv")).read_text().splitlines()
    header = rows[0].split(",")
    series = {
        k: [float(r.split(",")[header.index(k)]) for r in rows[1:] if r.split(",")[header.index(k)]]
        for k in ("train/loss_kd", "train/loss_mlm", "train/loss_cos")
    }
    for name, values in series.items():
        assert len(values) >= 10, name
        assert sum(values[-5:]) / 5 < sum(values[:5]) / 5, (name, values[:5], values[-5:])


def test_minilm_teacher_assistant_chain_as_general_distillation(tmp_path):
    final = run_job(
        [
            *GENERAL,
            "experiment=minilm_ta",
            "method.weights.task=0",
            "callbacks=none",
            "data.max_lines=100",
            "data.max_length=32",
            "teacher.model.num_layers=4",
            "student.model.num_layers=2",
            "student.model.hidden_size=16",
            "student.model.num_heads=2",
            "student.model.intermediate_size=32",
        ],
        tmp_path,
    )
    assistant = record_at(tmp_path / "out" / "0_assistant")
    assert assistant.task is None and final.task is None and final.stage.final
    assert final.teacher_source["model"]["name_or_path"] == str(tmp_path / "out" / "0_assistant" / "student")
