"""A resume continues only the run its checkpoint was written for: same training rows, same code."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.errors import StateError
from distill_zoo.objectives import SupervisedObjective
from distill_zoo.training.checkpoints import FINGERPRINT, ResumeGuard
from tests.training.resumable import KillAt, Killed, differing, train


def _train(folder, steps, code="abc123", accept=False, data_seed=0, kill=None, damaged="refuse"):
    guard = ResumeGuard(code=code, accept_mismatch=accept)
    options = {"checkpoint": {"every_n_steps": 2, "guard": guard}, "data_seed": data_seed, "kill": kill}
    options["damaged"] = damaged
    trainer, weights = train(folder, SupervisedObjective, list, steps=steps, **options)
    return trainer, weights, guard


def test_the_checkpoint_records_the_training_rows_and_the_code(tmp_path):
    _train(tmp_path / "a", 2, data_seed=0)
    _train(tmp_path / "b", 2, data_seed=5)
    a = torch.load(tmp_path / "a" / "last.ckpt", weights_only=True)[FINGERPRINT]
    b = torch.load(tmp_path / "b" / "last.ckpt", weights_only=True)[FINGERPRINT]
    assert a["code"] == b["code"] == "abc123"
    assert len(a["train_tokens"]) == 64 and a["train_tokens"] != b["train_tokens"]


def test_other_training_rows_are_refused_and_the_checkpoint_kept(tmp_path):
    _train(tmp_path, 4)
    before = (tmp_path / "last.ckpt").read_bytes()
    with pytest.raises(StateError, match=r"other inputs \(train_tokens: \w{12} in the checkpoint, \w{12} now\)"):
        _train(tmp_path, 6, data_seed=5)
    assert (tmp_path / "last.ckpt").read_bytes() == before


def test_other_code_is_refused_naming_both_commits(tmp_path):
    _train(tmp_path, 4, code="abc123")
    with pytest.raises(StateError, match=r"code: abc123 in the checkpoint, def456\+dirty now") as caught:
        _train(tmp_path, 6, code="def456+dirty")
    assert "resume_mismatch=accept" in str(caught.value) and "train_tokens" not in str(caught.value)


def test_a_checkpoint_without_the_record_is_refused(tmp_path):
    _train(tmp_path, 4)
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=True)
    del checkpoint[FINGERPRINT]
    torch.save(checkpoint, tmp_path / "last.ckpt")
    with pytest.raises(StateError, match="code: not recorded in the checkpoint, abc123 now"):
        _train(tmp_path, 6)


def test_accept_resumes_knowingly_and_says_what_differed(tmp_path, capsys):
    _train(tmp_path, 4, code="abc123")
    trainer, _, guard = _train(tmp_path, 6, code="def456", accept=True)
    assert trainer.global_step == 6 and guard.accepted == ["code: abc123 in the checkpoint, def456 now"]
    assert "resume_mismatch=accept" in capsys.readouterr().out


def test_the_same_inputs_resume_exactly(tmp_path):
    whole = _train(tmp_path / "whole", 6)[1]
    with pytest.raises(Killed):
        _train(tmp_path / "split", 6, kill=KillAt(5))  # killed after batch 5: the checkpoint of step 4 stays
    trainer, resumed, guard = _train(tmp_path / "split", 6)
    assert trainer.global_step == 6 and guard.accepted == [] and differing(resumed, whole) == []


def test_a_shared_teachers_checkpoint_from_other_code_is_set_aside_and_trained_from_zero(tmp_path, capsys):
    fresh = _train(tmp_path / "fresh", 6, code="def456")[1]
    with pytest.raises(Killed):
        _train(tmp_path / "teacher", 6, code="abc123", kill=KillAt(5))
    capsys.readouterr()
    trainer, weights, _ = _train(tmp_path / "teacher", 6, code="def456", damaged="set_aside")
    assert trainer.global_step == 6 and differing(weights, fresh) == []
    assert "was written by other code (abc123 then, def456 now); set aside" in capsys.readouterr().out
    assert len(list((tmp_path / "teacher").glob("last.ckpt.other-code-*"))) == 1
