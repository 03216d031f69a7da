import math

import pytest
import torch

from distill_zoo.losses import kl_div


def slow_kl(s, t, T, mask=None):
    """Explicit loop: T^2 * mean over rows of sum_c p_t (log p_t - log p_s)."""
    rows = []
    if s.dim() == 2:
        s, t = s[:, None], t[:, None]
        mask = torch.ones(s.shape[:2])
    for b in range(s.shape[0]):
        for i in range(s.shape[1]):
            if mask is not None and mask[b, i] == 0:
                continue
            zs = [x / T for x in s[b, i].tolist()]
            zt = [x / T for x in t[b, i].tolist()]
            ls = [z - math.log(sum(math.exp(u) for u in zs)) for z in zs]
            lt = [z - math.log(sum(math.exp(u) for u in zt)) for z in zt]
            rows.append(sum(math.exp(a) * (a - b_) for a, b_ in zip(lt, ls)))
    return T**2 * sum(rows) / len(rows)


@pytest.mark.parametrize("T", [1.0, 2.0, 4.5])
def test_matches_loop_per_example(T):
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    assert kl_div(s, t, T).item() == pytest.approx(slow_kl(s, t, T), rel=1e-10)


def test_matches_loop_per_token_with_padding():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(3, 6, 11, generator=g, dtype=torch.float64)
    t = torch.randn(3, 6, 11, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])
    assert kl_div(s, t, 2.0, mask).item() == pytest.approx(slow_kl(s, t, 2.0, mask), rel=1e-10)


def test_padding_length_does_not_change_value():
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(2, 4, 7, generator=g), torch.randn(2, 4, 7, generator=g)
    mask = torch.ones(2, 4)
    pad = torch.randn(2, 3, 7, generator=g) * 100
    longer = kl_div(torch.cat([s, pad], 1), torch.cat([t, -pad], 1), 2.0, torch.cat([mask, torch.zeros(2, 3)], 1))
    assert longer.item() == pytest.approx(kl_div(s, t, 2.0, mask).item(), rel=1e-6)


def test_zero_when_equal_and_positive_otherwise():
    z = torch.randn(4, 5)
    assert kl_div(z, z.clone(), 3.0).item() == pytest.approx(0.0, abs=1e-7)
    assert kl_div(z, torch.randn(4, 5), 3.0).item() > 0


def test_t_squared_factor():
    """KL of the softened distributions, times T^2: dividing by T^2 gives the plain KL at T."""
    s, t = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    T = 3.0
    plain = torch.nn.functional.kl_div(
        torch.log_softmax(s / T, -1), torch.log_softmax(t / T, -1), reduction="batchmean", log_target=True
    )
    assert kl_div(s, t, T).item() == pytest.approx(T**2 * plain.item(), rel=1e-10)


@pytest.mark.parametrize("T", [1.0, 3.0])
def test_student_gradient_is_t_times_the_probability_gap(T):
    """d/dz_S of T²·mean_rows KL(p_T ‖ p_S) is T·(p_S − p_T)/rows on counted rows, 0 on padding.

    The loss does not detach the teacher itself: the teacher runs under no_grad
    (tests/models/test_encoder.py), so what matters is the student's gradient."""
    g = torch.Generator().manual_seed(3)
    s = torch.randn(3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randn(3, 4, 5, generator=g, dtype=torch.float64) * 2
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    kl_div(s, t, T, mask).backward()
    gap = torch.softmax(s.detach() / T, -1) - torch.softmax(t / T, -1)
    expected = T * gap * mask[..., None] / mask.sum()
    torch.testing.assert_close(s.grad, expected, rtol=1e-10, atol=1e-12)
    assert (s.grad[mask == 0] == 0).all() and (s.grad[mask == 1].abs().sum(-1) > 0).all()


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        kl_div(torch.randn(2, 3), torch.randn(2, 4))
