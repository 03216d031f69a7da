"""A regression model (one output) has scores, not class probabilities: no calibration error,
and its agreement with the teacher is the correlation of the two models' scores."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from distill_zoo.pipeline.eval_stage import agreement, predict
from tests.conftest import padded_batch, tiny_bert


def test_a_regression_model_predicts_its_scores_and_no_probabilities():
    batches = [padded_batch(4, 8, seed=i, num_labels=1) for i in range(2)]
    teacher, student = tiny_bert(num_labels=1, seed=0), tiny_bert(num_labels=1, seed=1)
    outputs = {}
    for name, model in (("teacher", teacher), ("student", student)):
        got = predict(model, DataLoader(batches, batch_size=None), desc=name)
        with torch.no_grad():
            scores = torch.cat(
                [model(**{k: b[k] for k in ("input_ids", "attention_mask", "token_type_ids")}).logits for b in batches]
            )
        assert got.probabilities is None and got.calibration_error() is None
        torch.testing.assert_close(got.predicted, scores[:, 0])
        torch.testing.assert_close(got.labels, torch.cat([b["labels"] for b in batches]))
        outputs[name] = scores[:, 0]
    pearson = torch.corrcoef(torch.stack([outputs["teacher"], outputs["student"]]))[0, 1]
    teacher_out = predict(teacher, DataLoader(batches, batch_size=None), desc="teacher")
    student_out = predict(student, DataLoader(batches, batch_size=None), desc="student")
    assert agreement(teacher_out, student_out) == pytest.approx(float(pearson), abs=1e-5)
