"""The eval stage scores the student (not the teacher), every GLUE metric through a real run,
regression end to end, and a teacher that learns from the original (not augmented) data."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.pipeline import run_pipeline
from distill_zoo.pipeline.builders import build_datamodule, build_tokenizer
from distill_zoo.pipeline.eval_stage import dev_metrics, evaluate_pair
from tests.conftest import TINY_RUN, compose, tiny_bert


def _always(model, label: int, margin: float = 2.0):
    """``model`` made to predict ``label`` on every input, with softmax confidence near 0.98
    (its random logits are below 0.02)."""
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([margin, -margin] if label == 0 else [-margin, margin]))
    return model


def test_eval_scores_each_model_on_its_own_predictions(tmp_path, monkeypatch):
    """A teacher that always says 0 (4 layers) and a student that always says 1 (2 layers):
    every figure of the report, dev and extra test file alike, belongs to the model it names."""
    from tests.helpers.clocks import layer_clock
    from tests.pipeline.test_diagnostics import slow_ece

    cfg = compose(TINY_RUN, tmp_path)
    tokenizer = build_tokenizer(cfg)
    datamodule = build_datamodule(cfg, tokenizer)
    teacher, student = _always(tiny_bert(seed=0, num_layers=4), 0), _always(tiny_bert(seed=1, hidden_size=16), 1)
    test_file = tmp_path / "test.tsv"
    test_file.write_text("sentence\tlabel\n" + "".join(f"film {i} .\t{int(i < 5)}\n" for i in range(7)))
    with layer_clock(monkeypatch):
        report = evaluate_pair(
            teacher, student, datamodule, tokenizer, latency_runs=3, latency_warmup=1, test_file=str(test_file)
        )
    labels = torch.tensor([ex["label"] for ex in datamodule.load_examples()["dev"]])
    ones = float((labels == 1).float().mean())
    assert 0.2 < ones < 0.8  # the demo dev set has both classes, so the two differ
    assert report["student"]["metrics"]["acc"] == pytest.approx(ones)
    assert report["teacher"]["metrics"]["acc"] == pytest.approx(1 - ones)
    # The extra file (5 of 7 positive) is scored by each model itself.
    assert report["test"] == {
        "file": str(test_file),
        "teacher": {"acc": pytest.approx(2 / 7)},
        "student": {"acc": pytest.approx(5 / 7)},
    }
    predictions = report["predictions"]
    assert predictions["labels"] == labels.tolist()
    assert predictions["teacher"] == [0] * len(labels) and predictions["student"] == [1] * len(labels)
    assert report["agreement"] == 0.0
    datamodule.setup("validate")
    for role, model in (("teacher", teacher), ("student", student)):
        side = report[role]
        with torch.no_grad():
            probabilities = torch.cat(
                [
                    model(**{k: v for k, v in b.items() if k != "labels"}).logits.softmax(-1)
                    for b in datamodule.val_dataloader()
                ]
            )
        assert side["ece"] == pytest.approx(slow_ece(probabilities, labels), abs=1e-5)
        total = sum(p.numel() for p in model.parameters())
        tables = (
            model.bert.embeddings.word_embeddings.weight.numel()
            + model.bert.embeddings.position_embeddings.weight.numel()
        )
        assert side["params"] == total and side["params_non_embedding"] == total - tables
        # Latency on a clock where each transformer layer takes 1 ms: the model's own depth.
        assert side["latency_ms_median"] == pytest.approx(model.config.num_hidden_layers)
    assert report["teacher"]["params"] > report["student"]["params"]


def test_latency_is_the_median_and_90th_percentile_of_the_timed_calls_after_the_warmup(monkeypatch):
    from distill_zoo.pipeline.eval_stage import cpu_latency_ms
    from tests.helpers.clocks import FakeClock, use_clock

    clock = FakeClock()
    use_clock(monkeypatch, clock)
    costs = [1000.0, 1000.0] + [float(c) for c in torch.randperm(20, generator=torch.Generator().manual_seed(0)) + 1]
    seen: list[int] = []

    class Timed(torch.nn.Module):
        def forward(self, input_ids):
            seen.append(int(input_ids))
            clock.advance(costs[len(seen) - 1])

    examples = [{"input_ids": torch.tensor(i)} for i in range(3)]
    latency = cpu_latency_ms(Timed(), examples, runs=20, warmup=2)
    assert seen == [i % 3 for i in range(22)], "one example per call, cycling through them"
    assert latency["latency_ms_median"] == pytest.approx(10.5)  # of 1..20 ms; the 1000 ms warm-up calls untimed
    assert latency["latency_ms_p90"] == pytest.approx(19.0)  # sorted timings[int(0.9 * 20)]
    assert latency["latency_threads"] == torch.get_num_threads()


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
