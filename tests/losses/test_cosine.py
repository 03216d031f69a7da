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


def test_zero_when_equal_and_gradient_to_student_only():
    t = torch.randn(2, 3, 4)
    s = t.clone().requires_grad_(True)
    assert cosine_loss(s, t).item() == pytest.approx(0.0, abs=1e-6)
    s2 = torch.randn(2, 3, 4, requires_grad=True)
    cosine_loss(s2, t).backward()
    assert s2.grad.abs().sum() > 0


def test_width_mismatch_names_the_fix():
    with pytest.raises(ValueError, match="hidden size"):
        cosine_loss(torch.randn(1, 2, 4), torch.randn(1, 2, 8))
