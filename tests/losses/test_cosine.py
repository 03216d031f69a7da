import math

import pytest
import torch

from distill_zoo.losses import cosine_loss


def slow_cosine(s, t, mask):
    values = []
    for b in range(s.shape[0]):
        for i in range(s.shape[1]):
            if mask[b, i] == 0:
                continue
            u, v = s[b, i].tolist(), t[b, i].tolist()
            dot = sum(x * y for x, y in zip(u, v))
            norm = math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(y * y for y in v))
            values.append(1 - dot / norm)
    return sum(values) / len(values)


def test_matches_loop_with_padding():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(3, 5, 8, generator=g, dtype=torch.float64)
    t = torch.randn(3, 5, 8, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    assert cosine_loss(s, t, mask).item() == pytest.approx(slow_cosine(s, t, mask), rel=1e-10)


def test_matches_torch_cosine_embedding_loss_on_real_tokens():
    s, t = torch.randn(2, 4, 6), torch.randn(2, 4, 6)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    keep = mask.bool()
    ref = torch.nn.CosineEmbeddingLoss()(s[keep], t[keep], torch.ones(int(keep.sum())))
    assert cosine_loss(s, t, mask).item() == pytest.approx(ref.item(), rel=1e-6)


def test_pad_positions_and_scale_do_not_matter():
    s, t = torch.randn(2, 4, 6), torch.randn(2, 4, 6)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    s2 = s.clone()
    s2[mask == 0] = 1e3
    assert cosine_loss(s2, t, mask).item() == pytest.approx(cosine_loss(s, t, mask).item(), rel=1e-6)
    assert cosine_loss(3 * s, t, mask).item() == pytest.approx(cosine_loss(s, t, mask).item(), rel=1e-5)


def test_zero_when_equal():
    t = torch.randn(2, 3, 4)
    assert cosine_loss(t.clone(), t).item() == pytest.approx(0.0, abs=1e-6)


def test_student_gradient_matches_finite_differences_of_the_loop():
    """The loss does not detach the teacher (it runs under no_grad); the student's gradient must
    be the derivative of the explicit loop, and 0 at padding."""
    g = torch.Generator().manual_seed(4)
    s = torch.randn(2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    cosine_loss(s, t, mask).backward()
    eps, numeric = 1e-6, torch.zeros_like(s)
    for index in range(s.numel()):
        step = torch.zeros(s.numel(), dtype=torch.float64)
        step[index] = eps
        step = step.view_as(s)
        up, down = slow_cosine(s.detach() + step, t, mask), slow_cosine(s.detach() - step, t, mask)
        numeric.view(-1)[index] = (up - down) / (2 * eps)
    torch.testing.assert_close(s.grad, numeric, rtol=1e-6, atol=1e-9)
    assert (s.grad[1, 2] == 0).all() and s.grad[mask == 1].abs().sum(-1).min() > 0


def test_width_mismatch_names_the_fix():
    with pytest.raises(ValueError, match="hidden size"):
        cosine_loss(torch.randn(1, 2, 4), torch.randn(1, 2, 8))
