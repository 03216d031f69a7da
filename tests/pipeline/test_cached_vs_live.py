"""A run that reads the teacher from the output cache trains the student a live run trains,
also with losses that average over padding (``reduction=reference``); precisions under
which stored outputs could not equal live ones refuse the cache."""

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
    [  # a reference reduction averages over the teacher's padding
        pytest.param("method.reduction=reference", id="reference_reduction"),
        pytest.param("data.group_by_length=false", id="random_batches"),
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
@pytest.mark.parametrize(
    ("precision", "why"),
    [
        ("bf16-true", "converts the models themselves"),
        # Under autocast an output moves with its batch's padding (length-grouped batches
        # are padded less than the stored ones): a cached run trained another student.
        ("bf16-mixed", "where an output depends on how far its batch is padded"),
    ],
)
def test_a_precision_whose_outputs_a_cache_cannot_reproduce_refuses_it(tmp_path, capsys, precision, why):
    _, signal = _student(tmp_path, "half", "method=kd", f"trainer.precision={precision}", "teacher_cache=auto")
    out = capsys.readouterr().out
    assert signal == "live" and f"[teacher outputs] not cached: trainer.precision={precision}" in out and why in out
    assert not list((tmp_path / "cache" / "teacher_outputs").glob("*/meta.json"))
