"""Objectives: the terms they compute, the features they declare, and bad model pairs."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderFeatures, FeatureRequest
from distill_zoo.losses import cosine_loss, kl_div, task_loss
from distill_zoo.models import EncoderDims
from distill_zoo.objectives import DistilBERTObjective, KDObjective, SupervisedObjective


def features(logits, hidden=None, mask=None) -> EncoderFeatures:
    mask = mask if mask is not None else torch.ones(logits.shape[0], 5, dtype=torch.long)
    return EncoderFeatures(
        attention_mask=mask, num_layers=2, logits=logits, hidden_states={2: hidden} if hidden is not None else {}
    )


def test_kd_combines_soft_and_hard_terms_with_alpha():
    s, t, y = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    out = KDObjective(alpha=0.3, temperature=4.0)(features(s), features(t), {"labels": y})
    assert out["loss_kd"].item() == pytest.approx(0.3 * kl_div(s, t, 4.0).item(), rel=1e-6)
    assert out["loss_task"].item() == pytest.approx(0.7 * task_loss(s, y).item(), rel=1e-6)
    assert out["loss"].item() == pytest.approx(out["loss_kd"].item() + out["loss_task"].item(), rel=1e-6)


def test_kd_regression_uses_mse_to_teacher_and_label():
    s, t, y = torch.tensor([[1.0], [2.0]]), torch.tensor([[2.0], [2.0]]), torch.tensor([1.0, 4.0])
    out = KDObjective(alpha=0.5)(features(s), features(t), {"labels": y})
    assert out["loss_kd"].item() == pytest.approx(0.5 * 0.5)
    assert out["loss_task"].item() == pytest.approx(0.5 * 2.0)


def test_kd_alpha_one_never_reads_labels():
    s, t = torch.randn(2, 2), torch.randn(2, 2)
    out = KDObjective(alpha=1.0)(features(s), features(t), {})
    assert set(out) == {"loss", "loss_kd"}


def test_distilbert_terms_and_declared_features():
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    hs, ht = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    s, t, y = torch.randn(2, 2), torch.randn(2, 2), torch.tensor([1, 0])
    obj = DistilBERTObjective(weights={"kd": 2.0, "task": 0.5, "cos": 3.0}, temperature=2.0)
    assert obj.student_request() == FeatureRequest(logits=True, hidden_states=(-1,))
    assert obj.teacher_request() == FeatureRequest(logits=True, hidden_states=(-1,))
    out = obj(features(s, hs, mask), features(t, ht, mask), {"labels": y})
    assert out["loss_kd"].item() == pytest.approx(2.0 * kl_div(s, t, 2.0).item(), rel=1e-6)
    assert out["loss_task"].item() == pytest.approx(0.5 * task_loss(s, y).item(), rel=1e-6)
    assert out["loss_cos"].item() == pytest.approx(3.0 * cosine_loss(hs, ht, mask).item(), rel=1e-6)


def test_distilbert_zero_weight_skips_term_and_its_features():
    obj = DistilBERTObjective(weights={"cos": 0.0})
    assert obj.student_request().hidden_states == ()
    assert obj.teacher_request().hidden_states == ()
    out = obj(features(torch.randn(2, 2)), features(torch.randn(2, 2)), {"labels": torch.tensor([0, 1])})
    assert "loss_cos" not in out


def test_distilbert_zero_when_student_equals_teacher_and_no_task_term():
    h, z = torch.randn(2, 5, 8), torch.randn(2, 2)
    out = DistilBERTObjective(weights={"task": 0.0})(features(z, h), features(z.clone(), h.clone()), {})
    assert out["loss"].item() == pytest.approx(0.0, abs=1e-6)


def test_distilbert_rejects_width_mismatch_before_training():
    obj = DistilBERTObjective()
    with pytest.raises(ConfigError, match="method.weights.cos=0"):
        obj.configure(EncoderDims(3, 32, 2, 64), EncoderDims(6, 64, 2, 128))
    DistilBERTObjective(weights={"cos": 0}).configure(EncoderDims(3, 32, 2, 64), EncoderDims(6, 64, 2, 128))


def test_unknown_or_invalid_weights_are_rejected():
    with pytest.raises(ConfigError, match="unknown loss term"):
        DistilBERTObjective(weights={"cosine": 1.0})
    with pytest.raises(ConfigError, match="every loss weight is 0"):
        DistilBERTObjective(weights={"kd": 0, "task": 0, "cos": 0})
    with pytest.raises(ConfigError, match="alpha"):
        KDObjective(alpha=1.5)


def test_supervised_reads_no_teacher():
    obj = SupervisedObjective()
    assert not obj.needs_teacher
    s, y = torch.randn(3, 2), torch.tensor([0, 1, 1])
    assert obj(features(s), None, {"labels": y})["loss"].item() == pytest.approx(task_loss(s, y).item())
