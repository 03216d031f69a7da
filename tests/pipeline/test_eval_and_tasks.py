"""The eval stage scores the student (not the teacher), every GLUE metric through a real run,
regression end to end, and a teacher that learns from the original (not augmented) data."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.pipeline import run_pipeline
from distill_zoo.pipeline.builders import build_datamodule, build_tokenizer
from distill_zoo.pipeline.eval_stage import dev_metrics, evaluate_pair
from tests.conftest import TINY_RUN, compose, tiny_bert


def test_eval_scores_each_model_on_its_own_predictions(tmp_path):
    cfg = compose(TINY_RUN, tmp_path)
    tokenizer = build_tokenizer(cfg)
    datamodule = build_datamodule(cfg, tokenizer)
    teacher, student = tiny_bert(seed=0), tiny_bert(seed=1)
    with torch.no_grad():  # the student always says 1, the teacher always 0
        student.classifier.bias.copy_(torch.tensor([-50.0, 50.0]))
        teacher.classifier.bias.copy_(torch.tensor([50.0, -50.0]))
    report = evaluate_pair(teacher, student, datamodule, tokenizer, latency_runs=2, latency_warmup=0)
    labels = torch.tensor([ex["label"] for ex in datamodule.load_examples()["dev"]])
    ones = float((labels == 1).float().mean())
    assert report["student"]["metrics"]["acc"] == pytest.approx(ones)
    assert report["teacher"]["metrics"]["acc"] == pytest.approx(1 - ones)
    assert 0.2 < ones < 0.8  # the demo dev set has both classes, so the two differ


@pytest.mark.parametrize(
    ("task", "metrics"), [("stsb", {"pearson", "spearman"}), ("cola", {"mcc", "acc"}), ("rte", {"acc"})]
)
def test_each_task_runs_end_to_end_with_its_metrics(tmp_path, shared_data, task, metrics):
    cfg = compose(
        [*TINY_RUN, f"data={task}", f"data.root={shared_data}", "method=kd", "logger=none", "data.max_length=48"],
        tmp_path,
    )
    record = run_pipeline(cfg)
    assert set(record.student.metrics) == metrics and set(record.teacher.metrics) == metrics
    assert record.main_metric == {"stsb": "pearson", "cola": "mcc", "rte": "acc"}[task]
    # The recorded metrics are the saved student's, recomputed independently.
    from transformers import AutoModelForSequenceClassification

    student = AutoModelForSequenceClassification.from_pretrained(record.student.path)
    datamodule = build_datamodule(cfg, build_tokenizer(cfg))
    datamodule.setup("validate")
    again = dev_metrics(student, datamodule.val_dataloader(), tuple(sorted(metrics)), "check")
    assert again == pytest.approx(record.student.metrics, abs=1e-5)
    if task == "stsb":
        assert student.config.num_labels == 1 and "loss_kd" in "".join(record.final_losses)


def test_f1_task_end_to_end_from_a_local_folder(tmp_path):
    """MRPC's layout (quality, ids, two strings) and its F1 through a whole run."""
    folder = tmp_path / "data" / "glue" / "mrpc"
    folder.mkdir(parents=True)
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    rows = [
        f"{i % 2}\t{i}\t{i + 1}\tthe film number {i} is good .\tfilm {i} {'is good' if i % 2 else 'fails'} .\n"
        for i in range(48)
    ]
    (folder / "train.tsv").write_text(header + "".join(rows[:40]))
    (folder / "dev.tsv").write_text(header + "".join(rows[40:]))
    record = run_pipeline(compose([*TINY_RUN, "data=mrpc", f"data.root={tmp_path / 'data'}", "logger=none"], tmp_path))
    assert set(record.student.metrics) == {"f1", "acc"} and record.main_metric == "f1"


def test_the_teacher_fine_tunes_on_the_original_examples_only(tmp_path, monkeypatch):
    """With TinyBERT augmentation on, the student sees the augmented set; the teacher never does."""
    from distill_zoo.models import random_masked_lm
    from distill_zoo.pipeline import teacher_stage
    from tests.conftest import TOKENIZER

    torch.manual_seed(0)
    mlm = random_masked_lm(TOKENIZER, num_layers=1, hidden_size=32, num_heads=2, intermediate_size=64)
    mlm.save_pretrained(tmp_path / "mlm")
    from transformers import AutoTokenizer

    from distill_zoo.models import resolve_pretrained

    AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER)).save_pretrained(tmp_path / "mlm")
    seen: list[int] = []

    class Counting(teacher_stage.DistillationModule):
        def training_step(self, batch, batch_idx):
            seen.append(int(batch["input_ids"].shape[0]))
            return super().training_step(batch, batch_idx)

    monkeypatch.setattr(teacher_stage, "DistillationModule", Counting)
    small = [o for o in TINY_RUN if o != "trainer=debug"]
    cfg = compose(
        [
            *small,
            "trainer.max_epochs=1",
            "stages=[teacher,distill]",
            "logger=none",
            f"+data.augment={{mlm: '{tmp_path / 'mlm'}', copies: 2, p: 0.5, top_k: 5}}",
        ],
        tmp_path,
    )
    run_pipeline(cfg)
    assert sum(seen) == 64  # one epoch over the 64 original examples
    ctx_datamodule = build_datamodule(cfg, build_tokenizer(cfg))
    ctx_datamodule.setup("fit")
    assert len(ctx_datamodule.train_dataloader().dataset) > 64  # what the student trains on
