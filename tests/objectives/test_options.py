"""Every objective checks its own options when built, naming them as ``method.<option>``."""

from __future__ import annotations

import math

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderDims
from distill_zoo.losses import relation_kl
from distill_zoo.objectives import (
    DistilBERTMLMObjective,
    DistilBERTObjective,
    KDObjective,
    MiniLMObjective,
    MobileBERTObjective,
    PKDObjective,
    TinyBERTObjective,
)
from tests.conftest import padded_batch
from tests.objectives.zoo_helpers import losses, pair

WITH_TEMPERATURE = [
    KDObjective,
    DistilBERTObjective,
    DistilBERTMLMObjective,
    TinyBERTObjective,
    MobileBERTObjective,
    MiniLMObjective,
    PKDObjective,
]


@pytest.mark.parametrize("objective", WITH_TEMPERATURE, ids=lambda c: c.__name__)
@pytest.mark.parametrize("temperature", [0, -1, 0.0, math.nan, math.inf, "2", True])
def test_temperature_must_be_positive(objective, temperature):
    with pytest.raises(ConfigError, match=r"^method\.temperature must be a number > 0, got "):
        objective(temperature=temperature)


@pytest.mark.parametrize("objective", [KDObjective, PKDObjective], ids=lambda c: c.__name__)
@pytest.mark.parametrize("alpha", [-0.1, 1.5, math.nan])
def test_alpha_must_lie_in_the_unit_interval(objective, alpha):
    with pytest.raises(ConfigError, match=r"^method\.alpha must be a number in \[0, 1\], got "):
        objective(alpha=alpha)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: TinyBERTObjective(reduction="bogus"),
            r"method\.reduction must be one of valid, reference, got 'bogus'",
        ),
        (lambda: TinyBERTObjective(stage="both"), r"method\.stage must be one of intermediate, prediction, all"),
        (lambda: TinyBERTObjective(layer_map="skip"), r"method\.layer_map must be 'uniform', 'last' or a list"),
        (lambda: MobileBERTObjective(layer_map="unifrom"), r"method\.layer_map must be 'uniform', 'last' or a list"),
        (lambda: MobileBERTObjective(moment_norm="l3"), r"method\.moment_norm must be one of l2, l1, reference"),
        (lambda: PKDObjective(layer_map="uniform"), r"method\.layer_map must be 'skip', 'last' or a list"),
        (lambda: PKDObjective(soft_loss="kl"), r"method\.soft_loss must be one of kd, soft_ce, got 'kl'"),
        (lambda: PKDObjective(reduction="mean"), r"method\.reduction must be one of sum, reference, got 'mean'"),
        (lambda: PKDObjective(beta=-1.0), r"method\.beta must be a number >= 0, got -1\.0"),
        (lambda: DistilBERTMLMObjective(kd_positions="some"), r"method\.kd_positions must be one of all, masked"),
        (lambda: MiniLMObjective(version="v3"), r"method\.version must be one of v1, v2, got 'v3'"),
        (lambda: MiniLMObjective(version="v2", relation_heads=0), r"method\.relation_heads must be a whole number"),
        (lambda: MiniLMObjective(version="v2", relation_heads=2.5), r"method\.relation_heads must be a whole number"),
    ],
    ids=lambda v: "" if callable(v) else v.split(" ")[0].replace("\\", ""),
)
def test_string_and_count_options_fail_at_construction(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_valid_options_are_accepted():
    TinyBERTObjective(reduction="reference", layer_map=[1, 3], temperature=0.5)
    MobileBERTObjective(layer_map="last", moment_norm="reference", temperature=2)
    PKDObjective(layer_map=[0, 2], alpha=0, beta=0)
    MiniLMObjective(version="v2", relation_heads=4)


def test_minilm_v1_allows_other_head_counts_without_the_attention_term():
    student, _ = pair(student_hidden=16, heads=2)
    teacher = pair(teacher_hidden=32, heads=4)[1]
    with pytest.raises(ConfigError, match="heads"):
        MiniLMObjective(version="v1").configure(student.dims, teacher.dims)
    obj = MiniLMObjective(version="v1", weights={"at": 0.0})
    batch = padded_batch()
    out = losses(obj, student, teacher, batch)
    assert set(out) == {"loss", "loss_vr", "loss_task"}
    s, t = student(batch, obj.student_request()), teacher(batch, obj.teacher_request())
    expected = relation_kl(s.values[1], t.values[3], 2, batch["attention_mask"])  # the student's 2 heads
    assert out["loss_vr"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_minilm_v1_value_relation_needs_a_head_count_dividing_the_teacher_width():
    student, teacher = EncoderDims(2, 30, 3, 60), EncoderDims(4, 32, 4, 64)
    with pytest.raises(ConfigError, match=r"student's 3 heads, which does not divide its width 32"):
        MiniLMObjective(version="v1", weights={"at": 0.0}).configure(student, teacher)
