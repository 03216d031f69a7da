from __future__ import annotations

import pytest
import torch

from distill_zoo.errors import ConfigError
from distill_zoo.losses import attention_mse, hidden_mse, soft_cross_entropy
from distill_zoo.objectives import TinyBERTObjective
from tests.conftest import padded_batch
from tests.objectives.zoo_helpers import losses, pair, train_steps


def test_terms_match_the_losses_on_mapped_layers():
    student, teacher = pair(student_layers=2, teacher_layers=4)
    obj = TinyBERTObjective()
    batch = padded_batch()
    out = losses(obj, student, teacher, batch)
    assert obj.hidden_pairs == [(0, 0), (1, 2), (2, 4)] and obj.attention_pairs == [(0, 1), (1, 3)]
    s = student(batch, obj.student_request())
    t = teacher(batch, obj.teacher_request())
    mask = batch["attention_mask"]
    assert out["loss_embd"].item() == pytest.approx(hidden_mse(s.hidden(0), t.hidden(0), mask).item(), rel=1e-5)
    hidn = hidden_mse(s.hidden(1), t.hidden(2), mask) + hidden_mse(s.hidden(2), t.hidden(4), mask)
    assert out["loss_hidn"].item() == pytest.approx(hidn.item(), rel=1e-5)
    attn = attention_mse(s.scores[0], t.scores[1], mask) + attention_mse(s.scores[1], t.scores[3], mask)
    assert out["loss_attn"].item() == pytest.approx(attn.item(), rel=1e-5)
    assert out["loss_soft_ce"].item() == pytest.approx(soft_cross_entropy(s.logits, t.logits).item(), rel=1e-5)
    assert sorted(s.scores) == [0, 1] and sorted(t.scores) == [1, 3]


def test_intermediate_terms_are_zero_when_student_equals_teacher():
    student, teacher = pair(teacher_layers=2, copy_teacher=True)
    out = losses(TinyBERTObjective(stage="intermediate"), student.eval(), teacher)
    assert set(out) == {"loss", "loss_embd", "loss_hidn", "loss_attn"}
    assert out["loss"].item() == pytest.approx(0.0, abs=1e-6)


def test_stages_select_terms():
    assert TinyBERTObjective(stage="prediction").weights == {"embd": 0, "attn": 0, "hidn": 0, "soft_ce": 1}
    obj = TinyBERTObjective(stage="prediction")
    student, teacher = pair()
    obj.configure(student.dims, teacher.dims)
    assert obj.student_request().scores == () and obj.student_request().hidden_states == ()
    with pytest.raises(ConfigError, match="stage"):
        TinyBERTObjective(stage="general")


def test_projections_when_widths_differ_train_with_the_student_only():
    student, teacher = pair(student_hidden=16, teacher_hidden=32)
    obj = TinyBERTObjective()
    out = losses(obj, student, teacher)
    assert obj.proj_hidn.weight.shape == (32, 16) and obj.proj_embd is not obj.proj_hidn
    out["loss"].backward()
    assert obj.proj_hidn.weight.grad.abs().sum() > 0 and obj.proj_embd.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    assert not any("proj" in k for k in student.model.state_dict())
    shared = TinyBERTObjective(shared_projection=True)
    shared.configure(student.dims, teacher.dims)
    assert shared.proj_embd is shared.proj_hidn and len(list(shared.parameters())) == 2


@pytest.mark.slow
def test_loss_decreases_on_tiny_models():
    student, teacher = pair(student_hidden=16, teacher_hidden=32)
    history = train_steps(TinyBERTObjective(), student, teacher)
    assert sum(history[-5:]) / 5 < 0.7 * sum(history[:5]) / 5


def test_head_mismatch_and_bad_map_fail_before_training():
    student, teacher = pair(heads=2)
    teacher4 = pair(teacher_layers=4, heads=4)[1]
    with pytest.raises(ConfigError, match="heads"):
        TinyBERTObjective().configure(student.dims, teacher4.dims)
    TinyBERTObjective(weights={"attn": 0}).configure(student.dims, teacher4.dims)
    student3 = pair(student_layers=3)[0]
    with pytest.raises(ConfigError, match="multiple"):
        TinyBERTObjective().configure(student3.dims, teacher.dims)
    explicit = TinyBERTObjective(layer_map=[0, 1, 3])  # 0-based teacher layers
    explicit.configure(student3.dims, teacher.dims)
    assert explicit.hidden_pairs == [(0, 0), (1, 1), (2, 2), (3, 4)]
    assert explicit.attention_pairs == [(0, 0), (1, 1), (2, 3)]
    with pytest.raises(ConfigError, match=r"layers are 0-based: did you mean \[0, 1, 3\]\?"):
        TinyBERTObjective(layer_map=[1, 2, 4]).configure(student3.dims, teacher.dims)


def test_regression_prediction_uses_mse():
    student, teacher = pair()
    batch = padded_batch(num_labels=1)
    student.model.classifier = torch.nn.Linear(32, 1)
    teacher.model.classifier = torch.nn.Linear(32, 1).requires_grad_(False)
    student.model.config.num_labels = teacher.model.config.num_labels = 1
    out = losses(TinyBERTObjective(stage="prediction"), student, teacher, batch)
    s = student(batch, TinyBERTObjective(stage="prediction").student_request()).logits
    t = teacher(batch, TinyBERTObjective(stage="prediction").teacher_request()).logits
    assert out["loss_soft_ce"].item() == pytest.approx(torch.nn.functional.mse_loss(s, t).item(), rel=1e-5)


def test_reference_reduction_divides_soft_ce_by_the_number_of_classes():
    student, teacher = pair()
    torch.manual_seed(0)
    student.model.classifier = torch.nn.Linear(32, 3)
    teacher.model.classifier = torch.nn.Linear(32, 3).requires_grad_(False)
    student.model.config.num_labels = teacher.model.config.num_labels = 3
    batch = padded_batch(num_labels=3)
    valid = losses(TinyBERTObjective(stage="prediction"), student, teacher, batch)["loss_soft_ce"]
    reference = losses(TinyBERTObjective(stage="prediction", reduction="reference"), student, teacher, batch)[
        "loss_soft_ce"
    ]
    request = TinyBERTObjective(stage="prediction").student_request()
    s, t = student(batch, request).logits, teacher(batch, request).logits
    assert s.shape[-1] == 3
    assert valid.item() == pytest.approx(soft_cross_entropy(s, t).item(), rel=1e-5)
    assert reference.item() == pytest.approx(soft_cross_entropy(s, t).item() / 3, rel=1e-5)
    assert reference.item() == pytest.approx(valid.item() / 3, rel=1e-5)
    with pytest.raises(ConfigError, match="reduction"):
        TinyBERTObjective(reduction="mean")


def test_reference_reduction_reaches_the_hidden_and_attention_mses():
    """reduction=reference: MSEs over every position, padding included (padded keys zeroed in
    the attention scores, as the huawei-noah code does); valid: over real tokens / pairs only."""
    student, teacher = pair(student_layers=2, teacher_layers=4)  # equal widths: no projection
    batch = padded_batch()
    mask = batch["attention_mask"].double()
    assert (mask == 0).any()
    out = {
        r: losses(TinyBERTObjective(stage="intermediate", reduction=r), student, teacher, batch)
        for r in ("valid", "reference")
    }
    obj = TinyBERTObjective(stage="intermediate")
    obj.configure(student.dims, teacher.dims)
    s, t = student(batch, obj.student_request()), teacher(batch, obj.teacher_request())

    def hidden(a, b, reduction):
        sq = (s.hidden(a) - t.hidden(b)).double().pow(2).mean(-1)  # (B, L)
        return sq.mean() if reduction == "reference" else (sq * mask).sum() / mask.sum()

    def scores(a, b, reduction):
        if reduction == "reference":
            keys = mask[:, None, None, :]
            return (s.scores[a].double() * keys - t.scores[b].double() * keys).pow(2).mean()
        sq = (s.scores[a] - t.scores[b]).double().pow(2)  # (B, H, L, L)
        pairs = (mask[:, :, None] * mask[:, None, :])[:, None].expand_as(sq)
        return (sq * pairs).sum() / pairs.sum()

    for reduction in ("valid", "reference"):
        expected = {
            "embd": hidden(0, 0, reduction),
            "hidn": hidden(1, 2, reduction) + hidden(2, 4, reduction),
            "attn": scores(0, 1, reduction) + scores(1, 3, reduction),
        }
        for term, value in expected.items():
            assert out[reduction][f"loss_{term}"].item() == pytest.approx(value.item(), rel=1e-5), (reduction, term)
    for term in ("embd", "hidn", "attn"):
        assert out["reference"][f"loss_{term}"].item() != pytest.approx(
            out["valid"][f"loss_{term}"].item(), rel=1e-3
        ), term
