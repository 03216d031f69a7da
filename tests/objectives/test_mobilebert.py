from __future__ import annotations

import pytest

from distill_zoo.losses import attention_kl, hidden_mse, layer_norm_mse, moment_mse
from distill_zoo.objectives import MobileBERTObjective
from tests.conftest import padded_batch
from tests.objectives.zoo_helpers import losses, pair, train_steps


def test_layer_norm_mse_is_mse_of_standardised_states():
    import torch

    s, t = torch.randn(2, 3, 8, dtype=torch.float64), torch.randn(2, 3, 8, dtype=torch.float64) * 5 + 2
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    z = lambda x: (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5)  # noqa: E731
    assert layer_norm_mse(s, t, mask).item() == pytest.approx(hidden_mse(z(s), z(t), mask).item(), rel=1e-10)
    assert layer_norm_mse(3 * t + 1, t).item() == pytest.approx(0.0, abs=1e-6)
    mean, var = moment_mse(s, s.clone(), mask)
    assert mean.item() == var.item() == 0.0


def test_all_terms_at_once_without_a_schedule():
    student, teacher = pair(student_layers=2, teacher_layers=4, student_hidden=16, teacher_hidden=32)
    obj = MobileBERTObjective(weights={"mean": 1.0, "var": 1.0})
    batch = padded_batch()
    out = losses(obj, student, teacher, batch)
    assert set(out) == {"loss", "loss_fmt", "loss_at", "loss_mean", "loss_var", "loss_kd"}
    s, t = student(batch, obj.student_request()), teacher(batch, obj.teacher_request())
    mask = batch["attention_mask"]
    at = attention_kl(s.scores[0], t.scores[1], mask) + attention_kl(s.scores[1], t.scores[3], mask)
    assert out["loss_at"].item() == pytest.approx(at.item(), rel=1e-5)
    fmt = sum(
        layer_norm_mse(obj.projections[i](s.hidden(a + 1)), t.hidden(b + 1), mask) for i, (a, b) in enumerate(obj.pairs)
    )
    assert out["loss_fmt"].item() == pytest.approx(fmt.item(), rel=1e-5)


def test_phases_select_one_layer_then_prediction():
    student, teacher = pair(student_layers=2, teacher_layers=4)
    obj = MobileBERTObjective()
    obj.configure(student.dims, teacher.dims)
    obj.phase = 1
    assert obj.student_request().scores == (1,) and obj.student_request().hidden_states == (2,)
    assert obj.teacher_request().scores == (3,) and not obj.student_request().logits
    out = losses(obj, student, teacher)
    assert set(out) == {"loss", "loss_fmt", "loss_at"}
    obj.phase = 2
    assert obj.student_request().scores == () and obj.student_request().logits
    assert set(losses(obj, student, teacher)) == {"loss", "loss_kd"}


@pytest.mark.slow
def test_loss_decreases_on_tiny_models():
    student, teacher = pair(student_hidden=16, teacher_hidden=32)
    history = train_steps(MobileBERTObjective(), student, teacher)
    assert sum(history[-5:]) / 5 < 0.8 * sum(history[:5]) / 5


def test_moment_norm_reaches_the_moment_terms():
    import torch

    from distill_zoo.errors import ConfigError

    student, teacher = pair(student_layers=2, teacher_layers=4, student_hidden=16, teacher_hidden=32)
    batch, mask = padded_batch(), padded_batch()["attention_mask"]
    out = {}
    for norm in ("l2", "l1", "reference"):
        torch.manual_seed(0)  # the same projections for every norm
        obj = MobileBERTObjective(weights={"mean": 1.0, "var": 1.0}, moment_norm=norm)
        out[norm] = losses(obj, student, teacher, batch)
        s, t = student(batch, obj.student_request()), teacher(batch, obj.teacher_request())
        hidden = [(obj.projections[i](s.hidden(a + 1)), t.hidden(b + 1)) for i, (a, b) in enumerate(obj.pairs)]
        mean = sum(moment_mse(h_s, h_t, mask, norm)[0] for h_s, h_t in hidden)
        var = sum(moment_mse(h_s, h_t, mask, norm)[1] for h_s, h_t in hidden)
        assert out[norm]["loss_mean"].item() == pytest.approx(mean.item(), rel=1e-5), norm
        assert out[norm]["loss_var"].item() == pytest.approx(var.item(), rel=1e-5), norm
    assert out["l1"]["loss_var"].item() != pytest.approx(out["l2"]["loss_var"].item(), rel=1e-3)
    assert out["reference"]["loss_mean"].item() == pytest.approx(out["l2"]["loss_mean"].item(), rel=1e-5)
    assert out["reference"]["loss_var"].item() == pytest.approx(out["l1"]["loss_var"].item(), rel=1e-5)
    assert MobileBERTObjective().moment_norm == "l2"
    with pytest.raises(ConfigError, match="moment_norm"):
        MobileBERTObjective(moment_norm="l3")


def test_cross_entropy_at_logs_kl_plus_the_teacher_entropy():
    """cross_entropy_at=True logs −Σ p_T log p_S (the reference code) = KL(p_T ‖ p_S) + H(p_T),
    averaged over heads and real query rows, summed over matched layers."""
    import torch

    student, teacher = pair(student_layers=2, teacher_layers=4)
    batch = padded_batch()
    weights = {"fmt": 0.0, "kd": 0.0}
    kl = losses(MobileBERTObjective(weights=weights), student, teacher, batch)["loss_at"]
    obj = MobileBERTObjective(weights=weights, cross_entropy_at=True)
    ce = losses(obj, student, teacher, batch)["loss_at"]
    t = teacher(batch, obj.teacher_request())
    keys = batch["attention_mask"].bool()
    entropy = 0.0
    for _, layer in obj.pairs:
        p = torch.softmax(t.scores[layer].double().masked_fill(~keys[:, None, None, :], float("-inf")), -1)
        per_row = torch.special.entr(p).sum(-1)  # (B, H, L)
        rows = keys[:, None, :].expand_as(per_row)
        entropy += per_row[rows].mean()
    assert entropy > 0.1
    assert ce.item() == pytest.approx(kl.item() + entropy.item(), rel=1e-5)
