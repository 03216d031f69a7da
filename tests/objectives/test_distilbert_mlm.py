"""DistilBERT's general distillation on masked-LM outputs, against explicit loops."""

from __future__ import annotations

import math

import pytest
import torch

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderFeatures
from distill_zoo.objectives import DistilBERTMLMObjective

MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])
MLM_LABELS = torch.tensor([[-100, 7, -100, -100, 3], [5, -100, -100, -100, -100], [-100, 0, -100, -100, -100]])


def logits(scale: float, seed: int) -> torch.Tensor:
    """(3, 5, 11) vocabulary logits; a large scale makes peaked distributions."""
    return torch.randn(3, 5, 11, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


def features(z: torch.Tensor) -> EncoderFeatures:
    return EncoderFeatures(attention_mask=MASK, num_layers=2, logits=z)


def log_softmax(row: list[float]) -> list[float]:
    top = max(row)
    log_sum = top + math.log(sum(math.exp(x - top) for x in row))
    return [x - log_sum for x in row]


def slow_kd(student, teacher, T, positions) -> float:
    """T² · mean over counted positions of KL(softmax(z_T/T) ‖ softmax(z_S/T))."""
    values = []
    for b in range(student.shape[0]):
        for i in range(student.shape[1]):
            if not positions[b][i]:
                continue
            log_q = log_softmax([x / T for x in student[b, i].tolist()])
            log_p = log_softmax([x / T for x in teacher[b, i].tolist()])
            values.append(sum(math.exp(lp) * (lp - lq) for lp, lq in zip(log_p, log_q)))
    return T**2 * sum(values) / len(values)


def slow_mlm(student, labels) -> float:
    values = [
        -log_softmax(student[b, i].tolist())[y]
        for b in range(labels.shape[0])
        for i in range(labels.shape[1])
        if (y := int(labels[b, i])) != -100
    ]
    return sum(values) / len(values)


@pytest.mark.parametrize(
    ("kd_positions", "positions"), [("all", MASK.tolist()), ("masked", (MLM_LABELS != -100).tolist())]
)
def test_loss_kd_is_t_squared_kl_teacher_to_student_over_counted_positions(kd_positions, positions):
    s, t = logits(0.5, 0), logits(4.0, 1)  # flat student, peaked teacher: KL(t‖s) ≠ KL(s‖t)
    obj = DistilBERTMLMObjective(weights={"cos": 0.0}, temperature=2.0, kd_positions=kd_positions)
    out = obj(features(s), features(t), {"mlm_labels": MLM_LABELS})
    expected, swapped = slow_kd(s, t, 2.0, positions), slow_kd(t, s, 2.0, positions)
    assert abs(expected - swapped) > 0.1 * expected, "the test needs asymmetric distributions"
    assert out["loss_kd"].item() == pytest.approx(5.0 * expected, rel=1e-10)
    assert out["loss_mlm"].item() == pytest.approx(2.0 * slow_mlm(s, MLM_LABELS), rel=1e-10)
    assert out["loss"].item() == pytest.approx(out["loss_kd"].item() + out["loss_mlm"].item(), rel=1e-12)


def test_kd_positions_change_which_tokens_count():
    s, t = logits(0.5, 0), logits(4.0, 1)
    every = DistilBERTMLMObjective(weights={"mlm": 0.0, "cos": 0.0})(
        features(s), features(t), {"mlm_labels": MLM_LABELS}
    )
    masked = DistilBERTMLMObjective(weights={"mlm": 0.0, "cos": 0.0}, kd_positions="masked")(
        features(s), features(t), {"mlm_labels": MLM_LABELS}
    )
    assert every["loss_kd"].item() != pytest.approx(masked["loss_kd"].item(), rel=1e-3)
    with pytest.raises(ConfigError, match="kd_positions"):
        DistilBERTMLMObjective(kd_positions="padded")
    with pytest.raises(ConfigError, match="data.masking"):
        DistilBERTMLMObjective()(features(s), features(t), {})
