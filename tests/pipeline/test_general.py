"""General (corpus) distillation and the general -> task chain."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline import run
from tests.conftest import TINY_RUN, compose

CORPUS = ["corpus.max_lines=200", "corpus.max_length=32", "corpus.batch_size=8"]
GENERAL = [o for o in TINY_RUN if not o.startswith("data.")] + ["data=corpus", "teacher.finetune=null", "logger=none"]


def test_general_then_task_chain_on_tiny_models(tmp_path):
    cfg = compose(
        [*TINY_RUN, "experiment=tinybert_general_task", "student=tiny", "teacher.model.num_layers=4",
         "logger=none", "general_epochs=1", *CORPUS],
        tmp_path,
    )
    final = run(cfg)
    out = tmp_path / "out"
    general = json.loads((out / "0_general" / "results.json").read_text())
    assert general["mode"] == "general" and general["steps"] == 4  # trainer=debug: 4 batches
    assert general["corpus"].endswith("rt_snippets.txt")
    assert general["config"]["teacher"]["finetune"] is None
    step1 = json.loads((out / "1_task_intermediate" / "results.json").read_text())
    assert step1["config"]["student"]["model"]["name_or_path"] == str(out / "0_general" / "student")
    assert step1["config"]["method"]["stage"] == "intermediate"
    assert final["config"]["method"]["stage"] == "prediction"
    assert final["config"]["student"]["model"]["name_or_path"] == str(out / "1_task_intermediate" / "student")
    # The general stage's product is a Hugging Face checkpoint that changed during training.
    from distill_zoo.models.students import from_config
    from tests.conftest import tiny_bert

    trained = AutoModelForSequenceClassification.from_pretrained(out / "0_general" / "student")
    torch.manual_seed(cfg.seed)
    assert trained.config.num_hidden_layers == 2
    assert not torch.equal(trained.bert.encoder.layer[0].attention.self.query.weight,
                           from_config(tiny_bert(), 2, 2, 32, 2, 64).bert.encoder.layer[0].attention.self.query.weight)


def test_general_run_rejects_objectives_that_read_task_logits(tmp_path):
    cfg = compose([*GENERAL, "method=kd", "data.max_lines=50"], tmp_path)
    with pytest.raises(ConfigError, match="reads task logits"):
        run(cfg)
    assert not (tmp_path / "out" / "results.json").exists()


def test_minilm_general_run_on_a_corpus(tmp_path):
    cfg = compose([*GENERAL, "method=minilm", "data.max_lines=100", "data.max_length=32"], tmp_path)
    results = run(cfg)
    assert results["mode"] == "general" and results["steps"] > 0
    assert {"train/loss_at", "train/loss_vr"} <= set(results["final_losses"])


def test_distilbert_general_distillation_with_a_tiny_masked_lm_teacher(tmp_path):
    cfg = compose(
        ["experiment=distilbert_general", "teacher=tiny_mlm", "teacher.model.num_layers=4", "student=tiny",
         "+teacher.model.initializer_range=0.5", "trainer=debug",
         "trainer.limit_train_batches=24", "trainer.max_epochs=1", "logger=csv", "data.max_lines=800",
         "data.max_length=32", "data.batch_size=16", "optimizer.lr=3e-3", "warmup_ratio=0.0"],
        tmp_path,
    )
    results = run(cfg)
    assert results["mode"] == "general" and results["steps"] == 24
    from transformers import AutoModelForMaskedLM

    student = AutoModelForMaskedLM.from_pretrained(tmp_path / "out" / "student")
    assert student.config.num_hidden_layers == 2 and type(student).__name__ == "BertForMaskedLM"
    # A student distilled from a random teacher with large weights starts far from it, so
    # every term has room to fall.
    rows = next((tmp_path / "out" / "csv").rglob("metrics.csv")).read_text().splitlines()
    header = rows[0].split(",")
    series = {k: [float(r.split(",")[header.index(k)]) for r in rows[1:] if r.split(",")[header.index(k)]]
              for k in ("train/loss_kd", "train/loss_mlm", "train/loss_cos")}
    for name, values in series.items():
        assert len(values) >= 10, name
        assert sum(values[-5:]) / 5 < sum(values[:5]) / 5, (name, values[:5], values[-5:])


def test_minilm_teacher_assistant_chain_as_general_distillation(tmp_path):
    cfg = compose(
        [*GENERAL, "experiment=minilm_ta", "method.weights.task=0", "data.max_lines=100", "data.max_length=32",
         "teacher.model.num_layers=4", "student.model.num_layers=2", "student.model.hidden_size=16",
         "student.model.num_heads=2", "student.model.intermediate_size=32"],
        tmp_path,
    )
    final = run(cfg)
    assistant = json.loads((tmp_path / "out" / "0_assistant" / "results.json").read_text())
    assert assistant["mode"] == final["mode"] == "general"
    assert final["config"]["teacher"]["model"]["name_or_path"] == str(tmp_path / "out" / "0_assistant" / "student")
