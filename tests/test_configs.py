"""Every method x student option composes, instantiates and either works or fails clearly."""

from __future__ import annotations

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.models import encoder_dims
from distill_zoo.pipeline.builders import build_datamodule, build_objective, build_pretrained_teacher, build_student
from tests.conftest import ROOT, compose, tiny_bert

METHODS = sorted(p.stem for p in (ROOT / "conf" / "method").glob("*.yaml"))
STUDENTS = sorted(p.stem for p in (ROOT / "conf" / "student").glob("*.yaml"))
DATA = sorted(p.stem for p in (ROOT / "conf" / "data").glob("*.yaml") if p.stem != "glue")


def test_the_expected_options_exist():
    assert {"kd", "distilbert", "none"} <= set(METHODS)
    assert {"half", "random", "tiny", "pretrained"} <= set(STUDENTS)
    assert {"demo", "sst2", "mrpc", "cola", "stsb", "rte", "qnli", "mnli", "qqp"} <= set(DATA)


@pytest.mark.parametrize("student", STUDENTS)
@pytest.mark.parametrize("method", METHODS)
def test_method_student_pair(tmp_path, method, student):
    extra = []
    if student == "pretrained":
        tiny_bert().save_pretrained(tmp_path / "ckpt")
        extra = [f"student.model.name_or_path={tmp_path / 'ckpt'}"]
    cfg = compose(["teacher=tiny", f"method={method}", f"student={student}", *extra], tmp_path)
    objective = build_objective(cfg)
    assert type(objective).__name__.lower().startswith({"none": "supervised"}.get(method, method))
    teacher = build_pretrained_teacher(cfg, 2)
    model = build_student(cfg, teacher, 2)
    assert model.config.num_labels == 2
    widths_differ = encoder_dims(model.config).hidden_size != encoder_dims(teacher.config).hidden_size
    if method == "distilbert" and widths_differ:
        with pytest.raises(ConfigError, match="wide"):
            objective.check_models(encoder_dims(model.config), encoder_dims(teacher.config))
    else:
        objective.check_models(encoder_dims(model.config), encoder_dims(teacher.config))


@pytest.mark.parametrize("data", DATA)
def test_every_data_option_builds(tmp_path, data):
    cfg = compose([f"data={data}"], tmp_path)
    datamodule = build_datamodule(cfg)
    assert datamodule.spec.name == data


def test_strategies_fill_in_the_trainer(tmp_path):
    assert compose(["strategy=single"], tmp_path).trainer.devices == 1
    ddp = compose(["strategy=ddp"], tmp_path).trainer
    assert ddp.strategy._target_.endswith("DDPStrategy") and ddp.num_nodes == 1
    assert compose(["strategy=ddp_multinode"], tmp_path).trainer.num_nodes == 2
