"""The config schema: every shipped config passes; each mistyped key or bad value is one clear error."""

from __future__ import annotations

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.command_line import check_overrides, hydra_overrides
from distill_zoo.pipeline.schema import validate_config
from tests.conftest import ROOT, compose

GROUPS = ("teacher", "student", "method", "data", "logger", "strategy", "trainer", "callbacks", "experiment")


def _options() -> list[list[str]]:
    combos = [[]]
    for group in GROUPS:
        combos += [[f"{group}={path.stem}"] for path in sorted((ROOT / "conf" / group).glob("*.yaml"))]
    return [*combos, ["hparams_search=distilbert_optuna"]]


def test_every_shipped_option_passes_the_schema(tmp_path):
    for overrides in _options():
        validate_config(compose(overrides, tmp_path))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "+method.temprature=3",
            "unknown option method.temprature (DistilBERTObjective takes no such argument); "
            "did you mean method.temperature?",
        ),
        ("+trainer.max_epoch=1", "did you mean trainer.max_epochs?"),
        ("+eval.test_fil=x", "did you mean eval.test_file?"),
        ("+teacher.finetune.max_epoch=2", "did you mean teacher.finetune.max_epochs?"),
        ("+data.batchsize=8", "did you mean data.batch_size?"),
        ("+sed=3", "unknown option sed; did you mean seed?"),
        ("+logger.csv.nam=x", "did you mean logger.csv.name?"),
        (
            "seed=abc",
            "seed: Value 'abc' of type 'str' could not be converted to Integer; give it a value of that "
            "type (e.g. seed=1)",
        ),
        ("data.batch_size=0", "data.batch_size=0 is invalid: it must be a positive integer"),
        ("data.batch_size=-1", "data.batch_size=-1 is invalid"),
        ("data.eval_batch_size=0", "data.eval_batch_size=0 is invalid"),
        ("data.max_length=0", "data.max_length=0 is invalid: it must be a positive number of tokens"),
        ("data.num_workers=-1", "data.num_workers=-1 is invalid: it must be an integer >= 0"),
        ("data.length_pool_batches=0", "data.length_pool_batches=0 is invalid: it must be a positive number"),
        ("data.group_by_length=yes", "data.group_by_length='yes' is invalid: it must be true or false"),
        ("optimizer.lr=-1", "optimizer.lr=-1 is invalid: it must be a positive number"),
        ("optimizer.lr=0", "optimizer.lr=0 is invalid"),
        ("teacher.finetune.optimizer.lr=0", "teacher.finetune.optimizer.lr=0 is invalid"),
        ("eval.latency_runs=0", "eval.latency_runs=0 is invalid: it must be a positive integer"),
        ("warmup_ratio=1.5", "warmup_ratio=1.5 is invalid: it must be in [0, 1]"),
        ("checkpoint.every_n_minutes=-5", "checkpoint.every_n_minutes=-5 is invalid"),
        ("trainer.max_steps=0", "trainer.max_steps=0 is invalid: it must be a positive number of steps, or -1"),
        ("trainer.max_steps=-2", "trainer.max_steps=-2 is invalid"),
        ("teacher.finetune.max_steps=0", "teacher.finetune.max_steps=0 is invalid: it must be a positive number"),
        ("resume_mismatch=yes", "resume_mismatch='yes' is invalid: it must be refuse or accept"),
        ("teacher_cache_verify=all", "teacher_cache_verify='all' is invalid: it must be quick or full"),
        ("eval.latency_threads=0", "eval.latency_threads=0 is invalid: it must be a positive number of threads"),
    ],
)
def test_bad_key_or_value_is_one_clear_error(tmp_path, override, message):
    with pytest.raises(ConfigError) as err:
        validate_config(compose([override], tmp_path))
    assert message in str(err.value)
    assert len(str(err.value).splitlines()) == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epoch=1", "unknown option trainer.max_epoch; did you mean trainer.max_epochs?"),
        ("method.temprature=3", "unknown option method.temprature; did you mean method.temperature?"),
        ("metod=kd", "unknown option metod; did you mean method?"),
        ("method=distilbrt", "Could not find 'method/distilbrt'"),
        ("seed=1,2", "To sweep over it, add --multirun"),
    ],
)
def test_hydra_composition_errors_name_the_nearest_key(override, message):
    with pytest.raises(ConfigError) as err:
        check_overrides([override], ROOT / "conf")
    assert message in str(err.value)


def test_only_plain_single_runs_are_prechecked():
    assert hydra_overrides(["method=kd", "seed=2"]) == ["method=kd", "seed=2"]
    assert hydra_overrides(["-m", "method=kd,none"]) is None
    assert hydra_overrides(["--cfg", "job"]) is None
    check_overrides(["method=kd", "seed=2", "experiment=sst2_distilbert"], ROOT / "conf")
