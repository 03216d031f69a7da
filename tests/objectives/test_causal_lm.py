"""Causal-LM objectives: which positions count, the LM loss against a loop, DistilGPT2's sum,
lm_kd's divergences and the clm control, on per-token logits (B, L, V)."""

from __future__ import annotations

import math

import pytest
import torch

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderDims, EncoderFeatures
from distill_zoo.losses import cosine_loss, kl_div
from distill_zoo.objectives import CLMObjective, DistilGPT2Objective, LMKDObjective
from distill_zoo.objectives.next_token import clm_loss, predicted_positions

DIMS = EncoderDims(num_layers=2, hidden_size=8, num_heads=2, intermediate_size=16)


def features(logits, hidden, mask):
    return EncoderFeatures(attention_mask=mask, logits=logits, hidden_states={2: hidden}, num_layers=2)


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 11, (2, 6), generator=g)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    loss_mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1] * 4 + [0] * 2])  # a prompt of 2 tokens, then targets
    batch = {"input_ids": ids, "attention_mask": mask, "loss_mask": loss_mask}
    student = features(torch.randn(2, 6, 13, generator=g), torch.randn(2, 6, 8, generator=g), mask)
    teacher = features(torch.randn(2, 6, 13, generator=g), torch.randn(2, 6, 8, generator=g), mask)
    return student, teacher, batch


def slow_clm(logits, batch, columns):
    """Explicit loop: mean over (b, t) with token t+1 a target of -log softmax(z_bt)[x_b,t+1]."""
    total, count = 0.0, 0
    for b in range(logits.shape[0]):
        for t in range(logits.shape[1] - 1):
            if batch["loss_mask"][b, t + 1] and batch["attention_mask"][b, t]:
                row = logits[b, t, :columns].tolist()
                log_norm = math.log(sum(math.exp(v) for v in row))
                total += log_norm - row[int(batch["input_ids"][b, t + 1])]
                count += 1
    return total / count


def test_position_t_counts_when_token_t_plus_1_is_a_target(pair):
    _, _, batch = pair
    assert predicted_positions(batch).tolist() == [[0, 1, 1, 1, 1], [1, 1, 1, 0, 0]]


def test_the_clm_loss_matches_a_loop_on_the_trimmed_vocabulary(pair):
    student, _, batch = pair
    objective = CLMObjective()
    objective.vocab_columns = 11  # the two last logit columns are padding rows
    got = objective(student, None, batch)
    assert got["loss"].item() == pytest.approx(slow_clm(student.logits, batch, 11), rel=1e-5)
    assert got["loss_clm"].item() == got["loss"].item()
    assert not objective.needs_teacher and objective.teacher_request().logits is False


def test_distilgpt2_is_five_kd_two_clm_one_cos(pair):
    student, teacher, batch = pair
    objective = DistilGPT2Objective()
    objective.bind(DIMS, DIMS)
    got = objective(student, teacher, batch)
    positions = predicted_positions(batch)
    kd = kl_div(student.logits[:, :-1], teacher.logits[:, :-1], 2.0, positions)
    clm = clm_loss(student.logits[:, :-1], batch)
    cos = cosine_loss(student.hidden_states[2], teacher.hidden_states[2], batch["attention_mask"])
    assert got["loss_kd"].item() == pytest.approx(5 * kd.item(), rel=1e-6)
    assert got["loss_clm"].item() == pytest.approx(2 * clm.item(), rel=1e-6)
    assert got["loss_cos"].item() == pytest.approx(cos.item(), rel=1e-6)
    assert got["loss"].item() == pytest.approx(5 * kd.item() + 2 * clm.item() + cos.item(), rel=1e-6)
    assert objective.teacher_request().hidden_states == (-1,)


def test_distilgpt2_refuses_a_narrower_student_for_the_cosine_term():
    narrow = EncoderDims(num_layers=1, hidden_size=4, num_heads=2, intermediate_size=8)
    with pytest.raises(ConfigError, match="student width 4 != teacher 8"):
        DistilGPT2Objective().bind(narrow, DIMS)
    DistilGPT2Objective(weights={"cos": 0.0}).bind(narrow, DIMS)


def test_lm_kd_with_forward_kl_is_per_token_kl_plus_the_weighted_lm_loss(pair):
    student, teacher, batch = pair
    objective = LMKDObjective(weights={"div": 1.0, "clm": 0.5}, divergence="fkl", temperature=1.0)
    got = objective(student, teacher, batch)
    kd = kl_div(student.logits[:, :-1], teacher.logits[:, :-1], 1.0, predicted_positions(batch))
    assert got["loss_div"].item() == pytest.approx(kd.item(), rel=1e-5)
    assert got["loss_clm"].item() == pytest.approx(0.5 * slow_clm(student.logits, batch, 13), rel=1e-5)


@pytest.mark.parametrize("divergence", ["fkl", "rkl", "jsd", "skew_fkl", "skew_rkl", "tvd", "akl"])
def test_every_divergence_is_zero_for_a_student_equal_to_its_teacher_and_trains_the_student(pair, divergence):
    student, teacher, batch = pair
    objective = LMKDObjective(divergence=divergence)
    same = objective(teacher, teacher, batch)["loss"]
    assert same.item() == pytest.approx(0.0, abs=1e-6)
    logits = student.logits.clone().requires_grad_(True)
    objective(features(logits, student.hidden_states[2], student.attention_mask), teacher, batch)["loss"].backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert logits.grad[1, 3:].abs().sum() == 0, "positions that predict no target get no gradient"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"divergence": "kl"}, "method.divergence"),
        ({"temperature": 0.0}, "method.temperature"),
        ({"beta": 1.5}, "method.beta"),
        ({"top_k": 0}, "method.top_k"),
    ],
)
def test_bad_options_name_the_option(options, message):
    with pytest.raises(ConfigError, match=message):
        LMKDObjective(**options)


def test_classifier_logits_are_refused_with_the_fix(pair):
    _, _, batch = pair
    flat = features(torch.zeros(2, 3), torch.zeros(2, 6, 8), batch["attention_mask"])
    with pytest.raises(ConfigError, match="per-token vocabulary logits"):
        CLMObjective()(flat, None, batch)
