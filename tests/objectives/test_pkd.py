"""PKD: the paper's layer maps in 0-based layers, the terms on real tiny encoders, the T² option, errors."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderFeatures
from distill_zoo.losses import kl_div, patient_loss, soft_cross_entropy, task_loss
from distill_zoo.models import EncoderDims
from distill_zoo.objectives import PKDObjective
from distill_zoo.objectives.layer_map import attention_map, patient_map
from distill_zoo.pipeline.builders import build_objective
from tests.conftest import compose, padded_batch
from tests.objectives.zoo_helpers import losses, pair, train_steps


def test_the_papers_skip_and_last_maps_in_0_based_layers():
    # PKD-Skip, 12 -> 6: teacher layers 2, 4, 6, 8, 10 counted from 1; the last layer is left to KD
    assert patient_map("skip", 6, 12) == [(0, 1), (1, 3), (2, 5), (3, 7), (4, 9)]
    # PKD-Last, 12 -> 6: teacher layers 7..11 counted from 1
    assert patient_map("last", 6, 12) == [(0, 6), (1, 7), (2, 8), (3, 9), (4, 10)]
    assert patient_map("skip", 3, 12) == [(0, 3), (1, 7)]
    assert patient_map("last", 3, 12) == [(0, 9), (1, 10)]  # the reference code's 3-layer choice "9,10"
    # skip is the uniform map (the last layer of each block) without its final pair
    assert patient_map("skip", 6, 12) == attention_map("uniform", 6, 12)[:-1]
    assert patient_map([0, 4], 3, 6) == [(0, 0), (1, 4)]


def test_terms_match_the_losses_on_mapped_cls_states():
    student, teacher = pair(student_layers=3, teacher_layers=6)
    obj = PKDObjective(alpha=0.3, beta=2.0, temperature=4.0)
    batch = padded_batch()
    out = losses(obj, student, teacher, batch)
    assert obj.pairs == [(0, 1), (1, 3)]
    assert obj.student_request().hidden_states == (1, 2)  # hidden-state index = 0-based layer + 1
    assert obj.teacher_request().hidden_states == (2, 4)
    s, t = student(batch, obj.student_request()), teacher(batch, obj.teacher_request())
    cls_s = torch.stack([s.hidden(1)[:, 0], s.hidden(2)[:, 0]], dim=1)
    cls_t = torch.stack([t.hidden(2)[:, 0], t.hidden(4)[:, 0]], dim=1)
    assert out["loss_pt"].item() == pytest.approx(2.0 * patient_loss(cls_s, cls_t).item(), rel=1e-5)
    assert out["loss_kd"].item() == pytest.approx(0.3 * kl_div(s.logits, t.logits, 4.0).item(), rel=1e-5)
    assert out["loss_task"].item() == pytest.approx(0.7 * task_loss(s.logits, batch["labels"]).item(), rel=1e-5)
    assert set(out) == {"loss", "loss_kd", "loss_task", "loss_pt"}
    assert out["loss"].item() == pytest.approx(
        sum(out[k].item() for k in ("loss_kd", "loss_task", "loss_pt")), rel=1e-6
    )


def test_last_map_and_reference_reduction():
    student, teacher = pair(student_layers=3, teacher_layers=6)
    batch = padded_batch()
    paper = PKDObjective(layer_map="last")
    out = losses(paper, student, teacher, batch)
    assert paper.pairs == [(0, 3), (1, 4)] and paper.teacher_request().hidden_states == (4, 5)
    reference = PKDObjective(layer_map="last", reduction="reference")
    ref_out = losses(reference, student, teacher, batch)
    assert ref_out["loss_pt"].item() == pytest.approx(out["loss_pt"].item() / (2 * 32), rel=1e-5)


def test_zero_patient_and_kd_terms_when_student_equals_teacher():
    student, teacher = pair(teacher_layers=2, copy_teacher=True)
    obj = PKDObjective(alpha=1.0, beta=1.0)
    out = losses(obj, student.eval(), teacher)
    assert obj.pairs == [(0, 0)]
    assert set(out) == {"loss", "loss_kd", "loss_pt"}  # alpha 1: no task term
    assert out["loss"].item() == pytest.approx(0.0, abs=1e-6)


def test_patient_gradient_reaches_only_the_student_below_its_last_layer():
    student, teacher = pair(student_layers=3, teacher_layers=6)
    out = losses(PKDObjective(), student, teacher)
    out["loss_pt"].backward()
    layers = student.model.bert.encoder.layer
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layers[1].parameters())
    assert all(p.grad is None for p in layers[2].parameters())  # the last layer is left to the KD term
    assert all(p.grad is None for p in student.model.classifier.parameters())
    assert all(p.grad is None for p in teacher.parameters())


def test_beta_zero_reads_no_hidden_states_and_accepts_any_pair():
    obj = PKDObjective(beta=0.0)
    assert obj.weights == {"kd": 0.5, "task": 0.5, "pt": 0.0}
    obj.configure(EncoderDims(1, 16, 2, 32), EncoderDims(2, 32, 2, 64))  # too shallow and too narrow for pt
    assert obj.student_request().hidden_states == () and obj.teacher_request().hidden_states == ()
    student, teacher = pair(student_layers=3, teacher_layers=6)
    assert "loss_pt" not in losses(obj, student, teacher)
    assert not PKDObjective(alpha=0.0).teacher_request().logits


def logit_features(logits) -> EncoderFeatures:
    return EncoderFeatures(attention_mask=torch.ones(logits.shape[0], 3, dtype=torch.long), num_layers=2, logits=logits)


def test_soft_ce_option_is_the_papers_form_without_t_squared():
    s, t, y = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    T = 5.0
    kd = PKDObjective(beta=0.0, temperature=T)(logit_features(s), logit_features(t), {"labels": y})
    ce_obj = PKDObjective(beta=0.0, temperature=T, soft_loss="soft_ce")
    assert ce_obj.weights == {"soft_ce": 0.5, "task": 0.5, "pt": 0.0}
    ce = ce_obj(logit_features(s), logit_features(t), {"labels": y})
    assert set(ce) == {"loss", "loss_soft_ce", "loss_task"} and "loss_soft_ce" not in kd
    assert ce["loss_soft_ce"].item() == pytest.approx(0.5 * soft_cross_entropy(s, t, T).item(), rel=1e-6)
    # kd = T²·KL = T²·(soft cross-entropy − the teacher's entropy at T)
    p = torch.softmax(t / T, -1)
    entropy = -(p * p.log()).sum(-1).mean()
    assert kd["loss_kd"].item() == pytest.approx(0.5 * T**2 * (soft_cross_entropy(s, t, T) - entropy).item(), rel=1e-5)


@pytest.mark.parametrize("soft_loss", ["kd", "soft_ce"])
def test_regression_soft_term_is_mse_to_the_teacher(soft_loss):
    s, t, y = torch.tensor([[1.0], [2.0]]), torch.tensor([[2.0], [2.0]]), torch.tensor([1.0, 4.0])
    out = PKDObjective(beta=0.0, soft_loss=soft_loss)(logit_features(s), logit_features(t), {"labels": y})
    assert out[f"loss_{soft_loss}"].item() == pytest.approx(0.5 * 0.5)
    assert out["loss_task"].item() == pytest.approx(0.5 * 2.0)


@pytest.mark.parametrize(
    ("student", "teacher", "kwargs", "message"),
    [
        pytest.param((4, 32), (2, 32), {}, "no deeper than its teacher", id="deeper-student"),
        pytest.param((1, 32), (2, 32), {}, "1-layer student has none.*method.beta=0", id="one-layer-student"),
        pytest.param((2, 16), (4, 32), {}, "16 wide and the teacher 32.*method.beta=0", id="width"),
        pytest.param(
            (4, 32), (6, 32), {}, "layer_map=skip needs.*multiple of the student depth", id="skip-not-dividing"
        ),
        pytest.param(
            (3, 32),
            (6, 32),
            {"layer_map": [1, 3, 5]},
            "one 0-based teacher layer per student layer but the last",
            id="list-length",
        ),
        pytest.param((3, 32), (6, 32), {"layer_map": [2, 6]}, r"did you mean \[1, 5\]", id="list-from-1"),
    ],
)
def test_impossible_pairs_fail_before_training(student, teacher, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PKDObjective(**kwargs).configure(
            EncoderDims(student[0], student[1], 2, 64), EncoderDims(teacher[0], teacher[1], 2, 64)
        )


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="'skip', 'last' or a list"):
        PKDObjective(layer_map="uniform")
    with pytest.raises(ConfigError, match="soft_loss"):
        PKDObjective(soft_loss="kl")
    with pytest.raises(ConfigError, match="reduction"):
        PKDObjective(reduction="mean")
    with pytest.raises(ConfigError, match="alpha"):
        PKDObjective(alpha=1.5)
    with pytest.raises(ConfigError, match=">= 0"):
        PKDObjective(beta=-1.0)


def test_config_composes_with_its_options(tmp_path):
    obj = build_objective(compose(["method=pkd"], tmp_path))
    assert isinstance(obj, PKDObjective) and obj.weights == {"kd": 0.5, "task": 0.5, "pt": 0.1}
    assert (obj.temperature, obj.layer_map, obj.soft_loss, obj.reduction) == (5.0, "skip", "kd", "sum")
    obj = build_objective(
        compose(["method=pkd", "method.soft_loss=soft_ce", "method.layer_map=[1,3]", "method.beta=2"], tmp_path)
    )
    obj.configure(EncoderDims(3, 32, 2, 64), EncoderDims(6, 32, 2, 64))
    assert obj.pairs == [(0, 1), (1, 3)] and obj.weights == {"soft_ce": 0.5, "task": 0.5, "pt": 2.0}


@pytest.mark.slow
def test_loss_decreases_on_tiny_models():
    student, teacher = pair(student_layers=2, teacher_layers=4)
    history = train_steps(PKDObjective(beta=1.0), student, teacher)
    assert sum(history[-5:]) / 5 < 0.7 * sum(history[:5]) / 5
