"""A run that reads the teacher from the output cache trains the student a live run trains:
with losses that average over padding (``reduction=reference``) and under ``bf16-mixed``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import TINY_RUN, record_at, run_job

# Small write batches: training batches then mix examples of several of them, so a batch
# reads positions beyond some write batch's own padded length.
TRAIN = [*TINY_RUN, "data.batch_size=8", "data.eval_batch_size=4"]


def _student(tmp_path: Path, name: str, *extra: str) -> tuple[dict[str, torch.Tensor], str]:
    out = tmp_path / name
    run_job([*TRAIN, *extra, f"paths.output_dir={out}"], tmp_path)
    return load_file(str(out / "student" / "model.safetensors")), record_at(out).teacher_signal


@pytest.mark.slow
@pytest.mark.parametrize(
    "setting",
    [  # a reference reduction averages over the teacher's padding; bf16-mixed runs it under autocast
        pytest.param("method.reduction=reference", id="reference_reduction"),
        pytest.param("trainer.precision=bf16-mixed", id="bf16_mixed"),
    ],
)
def test_a_cached_teacher_trains_the_student_a_live_one_trains(tmp_path, setting):
    live, live_signal = _student(tmp_path, "live", "method=tinybert", setting, "teacher_cache=off")
    cached, signal = _student(tmp_path, "cached", "method=tinybert", setting, "teacher_cache=auto")
    assert live_signal == "live" and signal.startswith("cache: "), "the cached run read stored outputs"
    assert cached.keys() == live.keys()
    for name, value in live.items():
        torch.testing.assert_close(cached[name], value, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.slow
def test_a_precision_that_converts_the_models_refuses_the_cache(tmp_path, capsys):
    _, signal = _student(tmp_path, "half", "method=kd", "trainer.precision=bf16-true", "teacher_cache=auto")
    assert signal == "live" and "[teacher outputs] not cached: trainer.precision=bf16-true" in capsys.readouterr().out
    assert not list((tmp_path / "cache" / "teacher_outputs").glob("*/meta.json"))
