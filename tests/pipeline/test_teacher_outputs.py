"""The teacher-output cache: the same losses as a live teacher, no teacher forward in training,
one entry shared by the runs that read the same outputs, a new one when the input changes."""

from __future__ import annotations

import json

import pytest
import torch

from distill_zoo.features import FeatureRequest
from distill_zoo.models import FrozenEncoder
from distill_zoo.models.cached import CachedTeacher, write_teacher_outputs
from tests.conftest import TINY_RUN, padded_batch, record_at, run_job, tiny_bert

TRAIN = [*TINY_RUN, "trainer.limit_train_batches=null", "data.batch_size=8", "trainer.max_epochs=2"]


def test_cached_outputs_equal_the_live_teacher_on_padded_batches(tmp_path):
    teacher = FrozenEncoder(tiny_bert(num_layers=2))
    request = FeatureRequest(logits=True, hidden_states=(0, 2), attentions=(1,), scores=(0,), qkv=(1,))
    batches = []
    for seed in range(3):
        batch = padded_batch(batch_size=4, length=9 - seed, seed=seed)
        batch["example_index"] = torch.arange(4) + 4 * seed
        batches.append(batch)
    write_teacher_outputs(teacher, batches, request, examples=12, max_tokens=9, folder=tmp_path / "out", description={})
    cached = CachedTeacher(tmp_path / "out", num_layers=2, num_heads=2)
    assert cached.covers(request) and not cached.covers(FeatureRequest(hidden_states=(1,)))
    mixed = {k: torch.cat([batches[0][k][2:, :7], batches[2][k][:2, :7]]) for k in ("input_ids", "attention_mask")}
    mixed["example_index"] = torch.tensor([2, 3, 8, 9])  # a new batch mixing examples, padded to its own length
    live, read = teacher(mixed, request), cached(mixed, request)
    mask = mixed["attention_mask"].bool()
    torch.testing.assert_close(read.logits, live.logits, atol=1e-5, rtol=1e-5)
    for i in (0, 2):
        torch.testing.assert_close(read.hidden_states[i][mask], live.hidden_states[i][mask], atol=1e-5, rtol=1e-5)
    real = mask[:, None, :, None] & mask[:, None, None, :]
    torch.testing.assert_close(
        read.attentions[1][real.expand_as(read.attentions[1])],
        live.attentions[1][real.expand_as(live.attentions[1])],
        atol=1e-5,
        rtol=1e-5,
    )
    torch.testing.assert_close(read.values[1][mask], live.values[1][mask], atol=1e-5, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["distilbert", "tinybert", "minilm"])
def test_a_cached_teacher_gives_the_losses_of_a_live_one_without_running_it(tmp_path, method, monkeypatch):
    live = record_at(_run(tmp_path / "live", method, "off"))
    calls = []
    original = FrozenEncoder.forward
    monkeypatch.setattr(FrozenEncoder, "forward", lambda self, *a: calls.append(1) or original(self, *a))
    cached = record_at(_run(tmp_path / "cached", method, "features"))
    assert calls, "the cache is computed by the teacher once"
    before = len(calls)
    again = record_at(_run(tmp_path / "again", method, "features"))  # reuses the entry
    assert len(calls) == before, "no teacher forward pass when its outputs are stored"
    for record in (cached, again):
        assert record.final_losses.keys() == live.final_losses.keys()
        for term, value in live.final_losses.items():
            assert record.final_losses[term] == pytest.approx(value, rel=1e-5, abs=1e-6), term
        assert record.student.metrics == live.student.metrics
        assert record.teacher_signal.startswith("cache: ") and "logits" in record.teacher_signal
        assert record.comparable() != live.comparable(), "seeds that read the teacher differently never merge"
    assert live.teacher_signal == "live"


def _run(folder, method, mode):
    overrides = [*TRAIN, f"method={method}", f"teacher_cache={mode}", f"paths.output_dir={folder}"]
    if method == "minilm":
        overrides.append("callbacks=none")
    run_job(overrides, folder.parent)
    return folder


@pytest.mark.slow
def test_one_entry_per_teacher_input_and_request(tmp_path):
    runs = ((1, []), (2, []), (1, ["data.max_length=16"]), (1, ["data.max_train_samples=32"]))
    for number, (seed, extra) in enumerate(runs):
        run_job(
            [
                *TINY_RUN,
                "method=kd",
                "teacher_cache=logits",
                f"seed={seed}",
                *extra,
                f"paths.output_dir={tmp_path / 'runs' / str(number)}",
            ],
            tmp_path,
        )
    entries = sorted((tmp_path / "cache" / "teacher_outputs").glob("*/meta.json"))
    assert len(entries) == 3, "seeds share an entry; max_length and the subset each make a new one"
    assert {json.loads(p.read_text())["examples"] for p in entries} == {64, 32}
