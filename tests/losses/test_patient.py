import math

import pytest
import torch

from distill_zoo.losses import patient_loss


def slow_patient(s, t, reduction="sum"):
    """Σ_layers ‖s/‖s‖ − t/‖t‖‖² per example, averaged over the batch (or over every element)."""
    batch, layers, width = s.shape
    per_example = []
    for b in range(batch):
        total = 0.0
        for j in range(layers):
            u, v = s[b, j].tolist(), t[b, j].tolist()
            nu, nv = math.sqrt(sum(x * x for x in u)), math.sqrt(sum(y * y for y in v))
            total += sum((x / nu - y / nv) ** 2 for x, y in zip(u, v))
        per_example.append(total)
    mean = sum(per_example) / batch
    return mean / (layers * width) if reduction == "reference" else mean


def states(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("reduction", ["sum", "reference"])
def test_matches_loop_over_batch_and_layers(reduction):
    s, t = states(3, 4, 6, seed=0), states(3, 4, 6, seed=1)
    assert patient_loss(s, t, reduction).item() == pytest.approx(slow_patient(s, t, reduction), rel=1e-10)


def test_sum_is_the_default_and_reference_divides_by_layers_and_width():
    s, t = states(2, 5, 8, seed=2), states(2, 5, 8, seed=3)
    assert patient_loss(s, t).item() == pytest.approx(patient_loss(s, t, "sum").item(), rel=1e-12)
    assert patient_loss(s, t, "reference").item() == pytest.approx(patient_loss(s, t).item() / (5 * 8), rel=1e-10)
    # the reference code: F.mse_loss on the L2-normalised states
    normed = torch.nn.functional.normalize
    reference = torch.nn.functional.mse_loss(normed(s, dim=2), normed(t, dim=2))
    assert patient_loss(s, t, "reference").item() == pytest.approx(reference.item(), rel=1e-10)


def test_each_pair_is_two_minus_two_cosines():
    s, t = states(4, 3, 5, seed=4), states(4, 3, 5, seed=5)
    cos = torch.nn.functional.cosine_similarity(s, t, dim=-1)
    assert patient_loss(s, t).item() == pytest.approx((2 - 2 * cos).sum(1).mean().item(), rel=1e-10)
    assert patient_loss(s, -s).item() == pytest.approx(4 * 3, rel=1e-10)  # opposite directions: 4 per pair


def test_zero_when_student_equals_teacher_up_to_scale():
    t = states(2, 3, 4, seed=6)
    assert patient_loss(t.clone(), t).item() == pytest.approx(0.0, abs=1e-12)
    assert patient_loss(7.5 * t, t).item() == pytest.approx(0.0, abs=1e-12)


def test_invariant_to_rescaling_each_state():
    s, t = states(3, 2, 6, seed=7), states(3, 2, 6, seed=8)
    g = torch.Generator().manual_seed(9)
    scale_s = torch.rand(3, 2, 1, generator=g, dtype=torch.float64) * 10 + 0.1
    scale_t = torch.rand(3, 2, 1, generator=g, dtype=torch.float64) * 10 + 0.1
    assert patient_loss(scale_s * s, scale_t * t).item() == pytest.approx(patient_loss(s, t).item(), rel=1e-10)


def test_student_gradient_matches_finite_differences_and_is_orthogonal_to_the_state():
    """The loss does not detach the teacher (it runs under no_grad); the student's gradient is the
    loop's derivative and has no radial part (the loss ignores each state's length)."""
    s = states(2, 2, 3, seed=10).requires_grad_(True)
    t = states(2, 2, 3, seed=11)
    patient_loss(s, t).backward()
    eps, numeric = 1e-6, torch.zeros_like(s)
    for index in range(s.numel()):
        step = torch.zeros(s.numel(), dtype=torch.float64)
        step[index] = eps
        step = step.view_as(s)
        numeric.view(-1)[index] = (slow_patient(s.detach() + step, t) - slow_patient(s.detach() - step, t)) / (2 * eps)
    torch.testing.assert_close(s.grad, numeric, rtol=1e-6, atol=1e-9)
    assert (s.grad * s.detach()).sum(-1).abs().max() < 1e-10
    assert t.grad is None


def test_bad_shapes_and_reduction_name_the_fix():
    with pytest.raises(ValueError, match="hidden size"):
        patient_loss(torch.randn(2, 3, 4), torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match=r"\(B, M, D\)"):
        patient_loss(torch.randn(2, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match="reduction"):
        patient_loss(torch.randn(2, 3, 4), torch.randn(2, 3, 4), "mean")
