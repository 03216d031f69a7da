"""Diagnostics in the results record: teacher agreement, calibration, per-example predictions,
an extra labelled file kept apart from dev, and per-term gradient norms."""

from __future__ import annotations

import json

import pytest
import torch

from distill_zoo.errors import DataError
from distill_zoo.pipeline import run_pipeline
from distill_zoo.pipeline.eval_stage import Predictions, agreement
from tests.conftest import TINY_RUN, compose


def slow_ece(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """Expected calibration error, one example at a time: sum over bins of |acc - conf| * share."""
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for p, y in zip(probabilities.tolist(), labels.tolist()):
        confidence = max(p)
        index = min(int(confidence * bins - 1e-12), bins - 1) if confidence > 0 else 0
        members[index].append((confidence, p.index(confidence) == y))
    total = 0.0
    for items in members:
        if items:
            accuracy = sum(ok for _, ok in items) / len(items)
            mean_confidence = sum(c for c, _ in items) / len(items)
            total += abs(accuracy - mean_confidence) * len(items) / len(labels)
    return total


def test_calibration_error_matches_an_explicit_binning():
    g = torch.Generator().manual_seed(0)
    probabilities = torch.randn(500, 3, generator=g).mul(2).softmax(-1)
    labels = torch.randint(0, 3, (500,), generator=g)
    outputs = Predictions(labels, probabilities.argmax(-1), probabilities)
    assert outputs.calibration_error() == pytest.approx(slow_ece(probabilities, labels), abs=1e-5)
    # A model that is right exactly as often as it is confident is calibrated.
    confident = torch.tensor([[0.9, 0.1]] * 10)
    right = torch.tensor([0] * 9 + [1])
    assert Predictions(right, confident.argmax(-1), confident).calibration_error() == pytest.approx(0.0, abs=1e-6)
    assert Predictions(torch.zeros(3), torch.ones(3), None).calibration_error() is None


def test_agreement_counts_shared_predictions_and_correlates_scores():
    teacher = Predictions(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 1, 1]), torch.rand(4, 2))
    student = Predictions(teacher.labels, torch.tensor([0, 0, 1, 1]), torch.rand(4, 2))
    assert agreement(teacher, student) == pytest.approx(0.75)
    scores = Predictions(torch.zeros(5), torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0]), None)
    doubled = Predictions(torch.zeros(5), scores.predicted * 2 + 1, None)
    assert agreement(scores, doubled) == pytest.approx(1.0)


def _in_file_order(dataset):
    """One example per batch, in file order: no padding, no sampler of the code under test."""
    from torch.utils.data import DataLoader

    return DataLoader(dataset.with_format("torch"), batch_size=1)


def _saved_outputs(model_dir, loader) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Labels, softmax probabilities and predicted classes of a saved classifier, batch by batch."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    labels, probabilities = [], []
    with torch.no_grad():
        for batch in loader:
            labels.append(batch.pop("labels"))
            batch.pop("example_index", None)
            probabilities.append(model(**batch).logits.softmax(-1))
    p = torch.cat(probabilities)
    return torch.cat(labels), p, p.argmax(-1)


def test_record_holds_predictions_agreement_calibration_and_test_file(tmp_path, shared_data):
    """Every diagnostic is recomputed here from the saved teacher and student."""
    from distill_zoo.pipeline.builders import build_datamodule, build_tokenizer

    test_file = tmp_path / "held_out.tsv"
    rows = (shared_data / "glue" / "sst2" / "dev.tsv").read_text().splitlines()
    test_file.write_text("\n".join([rows[0], *rows[-20:]]) + "\n")
    cfg = compose(
        [*TINY_RUN, "data=sst2", f"data.root={shared_data}", "method=kd", f"eval.test_file={test_file}"], tmp_path
    )
    record = run_pipeline(cfg)
    out = tmp_path / "out"
    saved = json.loads((out / "predictions.json").read_text())
    assert saved["split"] == "dev" and len(saved["labels"]) == 32
    datamodule = build_datamodule(cfg, build_tokenizer(cfg))
    datamodule.setup("validate")
    predicted = {}
    for role, folder in (("teacher", record.teacher.path), ("student", out / "student")):
        labels, probabilities, predicted[role] = _saved_outputs(folder, _in_file_order(datamodule.datasets["dev"]))
        assert saved["labels"] == labels.tolist() and saved[role] == predicted[role].tolist()
        side = getattr(record, role)
        assert side.metrics["acc"] == pytest.approx(float((predicted[role] == labels).float().mean()))
        assert side.ece == pytest.approx(slow_ece(probabilities, labels), abs=1e-5)
        # The extra file: its own 20 examples, scored by this model.
        datamodule.labelled_file_loader(test_file)  # tokenises the file
        tokenised = datamodule.datasets[f"file:{test_file.resolve()}"]
        file_labels, _, file_predicted = _saved_outputs(folder, _in_file_order(tokenised))
        assert len(file_labels) == 20
        assert record.test[role] == {"acc": pytest.approx(float((file_predicted == file_labels).float().mean()))}
    assert record.agreement == pytest.approx(float((predicted["teacher"] == predicted["student"]).float().mean()))
    assert record.test["file"] == str(test_file)
    written = json.loads((out / "results.json").read_text())
    assert written["test"] == record.test and written["agreement"] == record.agreement


def test_a_broken_test_file_fails_before_training(tmp_path, shared_data):
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\nfine .\t1\nbroken .\t7\n")
    cfg = compose([*TINY_RUN, "data=sst2", f"data.root={shared_data}", f"eval.test_file={bad}"], tmp_path)
    with pytest.raises(DataError, match=r"bad.tsv, line 3: label 7"):
        run_pipeline(cfg)
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache" / "teachers").exists()


def test_gradient_norms_per_term_are_logged_without_changing_training(tmp_path):
    with_norms = run_pipeline(compose([*TINY_RUN, "method=distilbert", "gradnorm_every_n_steps=1"], tmp_path / "a"))
    without = run_pipeline(compose([*TINY_RUN, "method=distilbert"], tmp_path / "b"))
    norms = {k: v for k, v in with_norms.final_losses.items() if k.startswith("train/gradnorm_")}
    assert set(norms) == {"train/gradnorm_kd", "train/gradnorm_task", "train/gradnorm_cos"}
    assert all(v > 0 for v in norms.values())
    assert with_norms.student.metrics == without.student.metrics
    assert with_norms.final_losses["train/loss"] == pytest.approx(without.final_losses["train/loss"], rel=1e-6)


def test_gradient_norm_of_a_term_equals_its_own_backward_pass():
    from distill_zoo.objectives import DistilBERTObjective
    from distill_zoo.training import DistillationModule
    from tests.conftest import padded_batch, tiny_bert

    module = DistillationModule(tiny_bert(seed=1), DistilBERTObjective(), teacher=tiny_bert(seed=0))
    batch = padded_batch()
    teacher = module.teacher(batch, module.objective.teacher_request())
    terms = module.objective(module.student(batch, module.objective.student_request()), teacher, batch)
    norms = module.term_gradient_norms(terms)
    module.zero_grad()
    terms["loss_task"].backward(retain_graph=True)
    expected = torch.sqrt(sum(p.grad.pow(2).sum() for p in module.trainable_parameters() if p.grad is not None))
    assert float(norms["train/gradnorm_task"]) == pytest.approx(float(expected), rel=1e-5)
