import math

import pytest
import torch

from distill_zoo.losses import hidden_mse, regression_mse, soft_cross_entropy, task_loss


def test_soft_cross_entropy_matches_loop_and_has_no_t_squared():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    T = 2.0
    total = 0.0
    for b in range(4):
        zs, zt = (s[b] / T).tolist(), (t[b] / T).tolist()
        lse_s = math.log(sum(math.exp(x) for x in zs))
        zt_sum = sum(math.exp(x) for x in zt)
        total += -sum(math.exp(a) / zt_sum * (c - lse_s) for a, c in zip(zt, zs))
    assert soft_cross_entropy(s, t, T).item() == pytest.approx(total / 4, rel=1e-10)


def test_soft_cross_entropy_reference_reduction_is_the_mean_over_all_elements():
    g = torch.Generator().manual_seed(1)
    B, C = 5, 3
    s, t = torch.randn(B, C, generator=g, dtype=torch.float64), torch.randn(B, C, generator=g, dtype=torch.float64)
    elements = []
    for b in range(B):
        lse_s = math.log(sum(math.exp(x) for x in s[b].tolist()))
        zt_sum = sum(math.exp(x) for x in t[b].tolist())
        elements += [-math.exp(t[b, c].item()) / zt_sum * (s[b, c].item() - lse_s) for c in range(C)]
    reference = soft_cross_entropy(s, t, reduction="reference").item()
    assert reference == pytest.approx(sum(elements) / (B * C), rel=1e-10), "huawei-noah: (-p_t * log q_s).mean()"
    assert soft_cross_entropy(s, t, reduction="mean").item() == pytest.approx(sum(elements) / B, rel=1e-10)
    assert soft_cross_entropy(s, t).item() == pytest.approx(C * reference, rel=1e-10), "the paper's form is the default"
    with pytest.raises(ValueError, match="reduction"):
        soft_cross_entropy(s, t, reduction="sum")


def test_soft_cross_entropy_is_kl_plus_teacher_entropy():
    from distill_zoo.losses import kl_div

    s, t = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    p = torch.softmax(t, -1)
    entropy = -(p * torch.log(p)).sum(-1).mean()
    assert soft_cross_entropy(s, t).item() == pytest.approx((kl_div(s, t) + entropy).item(), rel=1e-10)


def test_hidden_mse_matches_loop_with_padding():
    g = torch.Generator().manual_seed(3)
    s = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    t = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    values = [
        sum((s[b, i, d] - t[b, i, d]).item() ** 2 for d in range(3)) / 3
        for b in range(2)
        for i in range(4)
        if mask[b, i]
    ]
    assert hidden_mse(s, t, mask).item() == pytest.approx(sum(values) / len(values), rel=1e-10)


def test_task_loss_classification_and_regression():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0])
    expected = (-math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(1 / (1 + math.e))) / 2
    assert task_loss(logits, labels).item() == pytest.approx(expected, rel=1e-10)
    preds = torch.tensor([[1.0], [3.0]])
    assert task_loss(preds, torch.tensor([2.0, 2.0])).item() == pytest.approx(1.0)
    assert regression_mse(preds, torch.tensor([[1.0], [1.0]])).item() == pytest.approx(2.0)
