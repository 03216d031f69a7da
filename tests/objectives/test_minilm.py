from __future__ import annotations

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.losses import attention_kl, relation_kl
from distill_zoo.objectives import MiniLMObjective
from tests.conftest import padded_batch
from tests.objectives.zoo_helpers import losses, pair, train_steps


def test_v1_uses_last_layers_attention_and_value_relation():
    student, teacher = pair(student_layers=2, teacher_layers=4, student_hidden=16, teacher_hidden=32)
    obj = MiniLMObjective(version="v1")
    batch = padded_batch()
    out = losses(obj, student, teacher, batch)
    s, t = student(batch, obj.student_request()), teacher(batch, obj.teacher_request())
    assert sorted(s.scores) == [1] and sorted(t.scores) == [3]
    mask = batch["attention_mask"]
    assert out["loss_at"].item() == pytest.approx(attention_kl(s.scores[1], t.scores[3], mask).item(), rel=1e-5)
    assert out["loss_vr"].item() == pytest.approx(relation_kl(s.values[1], t.values[3], 2, mask).item(), rel=1e-5)


def test_v2_relations_with_different_head_counts_and_widths():
    student, _ = pair(student_hidden=16, heads=2)
    teacher = pair(teacher_layers=4, teacher_hidden=32, heads=4)[1]
    obj = MiniLMObjective(version="v2", relation_heads=4, teacher_layer=2)
    batch = padded_batch()
    out = losses(obj, student, teacher, batch)
    assert set(out) == {"loss", "loss_qq", "loss_kk", "loss_vv", "loss_task"}  # task: 1 by default
    s, t = student(batch, obj.student_request()), teacher(batch, obj.teacher_request())
    expected = relation_kl(s.keys[1], t.keys[2], 4, batch["attention_mask"])
    assert out["loss_kk"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_zero_when_student_equals_teacher():
    for version, extra in (("v1", {}), ("v2", {"relation_heads": 4})):
        student, teacher = pair(teacher_layers=2, copy_teacher=True)
        obj = MiniLMObjective(version=version, weights={"task": 0.0}, **extra)
        out = losses(obj, student.eval(), teacher)
        assert out["loss"].item() == pytest.approx(0.0, abs=1e-6)


def test_clear_errors():
    student, _ = pair(heads=2)
    teacher = pair(heads=4)[1]
    with pytest.raises(ConfigError, match="version=v2"):
        MiniLMObjective(version="v1").configure(student.dims, teacher.dims)
    with pytest.raises(ConfigError, match="relation heads"):
        MiniLMObjective(version="v2", relation_heads=48).configure(student.dims, teacher.dims)
    with pytest.raises(ConfigError, match="unknown loss term"):
        MiniLMObjective(version="v2", weights={"at": 1})
    with pytest.raises(ConfigError, match="out of range"):
        MiniLMObjective(teacher_layer=7).configure(student.dims, student.dims)


@pytest.mark.slow
def test_loss_decreases_for_both_versions():
    for obj in (MiniLMObjective(version="v1"), MiniLMObjective(version="v2", relation_heads=4)):
        student, teacher = pair(student_hidden=16, teacher_hidden=32)
        history = train_steps(obj, student, teacher)
        assert sum(history[-5:]) / 5 < 0.8 * sum(history[:5]) / 5, (obj.version, history[:3], history[-3:])


def test_phases_split_transfer_and_fine_tuning():
    """MiniLM's protocol in a task run: relation transfer, then fine-tuning on the labels."""
    student, teacher = pair(student_hidden=16, teacher_hidden=32)
    obj = MiniLMObjective(version="v1", weights={"kd": 0.5})
    batch = padded_batch()
    assert set(losses(obj, student, teacher, batch)) == {"loss", "loss_at", "loss_vr", "loss_kd", "loss_task"}
    obj.phase = "transfer"
    assert not obj.student_request().logits and obj.student_request().scores
    assert set(losses(obj, student, teacher, batch)) == {"loss", "loss_at", "loss_vr"}
    obj.phase = "finetune"
    assert obj.student_request().logits and not obj.student_request().scores and not obj.student_request().qkv
    assert set(losses(obj, student, teacher, batch)) == {"loss", "loss_kd", "loss_task"}
    obj.phase = "typo"
    with pytest.raises(ValueError, match="phase must be one of"):
        obj.student_request()
