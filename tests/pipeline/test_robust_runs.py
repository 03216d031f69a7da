"""Runs as a user meets them on a cluster: killed, pre-empted, diverging, rerun, swept with a bad job.

Every test drives ``run.py`` in a subprocess, as a user or scheduler would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from distill_zoo.errors import ConfigError, StateError
from distill_zoo.pipeline.builders import build_trainer
from distill_zoo.pipeline.rundir import claim_run_dir
from distill_zoo.training.checkpoint_io import AtomicCheckpointIO
from tests.conftest import ROOT, TINY_RUN, compose, run_job
from tests.helpers.cli import cli_in_process, run_cli

#: Tiny models on 200 demo examples, 2 epochs of 25 steps, a checkpoint every 5 steps.
RESUMABLE = [
    "teacher=tiny",
    "student=tiny",
    "logger=csv",
    "data.max_train_samples=200",
    "data.max_eval_samples=32",
    "data.batch_size=8",
    "trainer.max_epochs=2",
    "eval.latency_runs=3",
    "eval.latency_warmup=1",
    "checkpoint.every_n_steps=5",
]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """``run.py <args>`` as a terminal starts it: Ctrl-C at its default, whatever this process
    inherited (a shell ignores SIGINT in what it starts in the background, and children keep that)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_default_interrupt,
        )


def _default_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        assert proc.poll() is None, "the run ended before writing a checkpoint"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


def _outcome(run_dir: Path) -> tuple[dict, dict, dict[str, torch.Tensor]]:
    record = json.loads((run_dir / "results.json").read_text())
    weights = load_file(run_dir / "student" / "model.safetensors")
    return record["student"]["metrics"], record["final_losses"], weights


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_matches_an_uninterrupted_run(tmp_path, monkeypatch, capsys):
    # Dropout on (the student copies the teacher's config): without the random streams a resume would drift.
    # The uninterrupted run and the resume run in this process, the killed one in a child: the
    # child's first steps must equal this process's too, so the match also shows that a fresh
    # process with the same command and seed makes the same run.
    common = [*RESUMABLE, "teacher.model.dropout=0.1", f"paths.cache_dir={tmp_path / 'cache'}"]
    whole = cli_in_process([*common, f"hydra.run.dir={tmp_path / 'whole'}"], monkeypatch, capsys)
    assert whole.returncode == 0, whole.stderr[-3000:]

    run_dir = tmp_path / "killed"
    proc = _start([*common, f"hydra.run.dir={run_dir}"], tmp_path / "first.log")
    _wait_for(run_dir / "checkpoints" / "last.ckpt", proc)
    proc.send_signal(signal.SIGSTOP)  # hold it mid-training, then kill it outright
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (run_dir / "results.json").exists()
    step = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert 0 < step < 50
    _unfinished_run_is_kept_for_its_own_config(run_dir, [*common, f"paths.output_dir={run_dir}"])

    again = cli_in_process([*common, f"hydra.run.dir={run_dir}"], monkeypatch, capsys)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming from {run_dir / 'checkpoints' / 'last.ckpt'}, step {step}" in again.stdout
    metrics, losses, weights = _outcome(run_dir)
    want_metrics, want_losses, want_weights = _outcome(tmp_path / "whole")
    assert metrics == want_metrics and losses == want_losses
    assert weights.keys() == want_weights.keys()
    assert all(torch.equal(weights[k], want_weights[k]) for k in weights), "resumed weights differ"
    assert not (run_dir / "checkpoints").exists(), "a finished run drops its checkpoint"


@pytest.mark.slow
@pytest.mark.parametrize(("stop", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 1)])
def test_sigterm_or_ctrl_c_saves_a_checkpoint_and_exits_non_zero(tmp_path, stop, exit_code):
    run_dir = tmp_path / "run"
    proc = _start([*RESUMABLE, f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run_dir}"], tmp_path / "log")
    _wait_for(run_dir / "checkpoints" / "last.ckpt", proc)
    proc.send_signal(stop)
    assert proc.wait(timeout=120) == exit_code
    out = (tmp_path / "log").read_text()
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    if stop == signal.SIGINT and "[checkpoint] stopped between optimiser steps" in out:
        # Ctrl-C landed inside a batch: nothing is written there, the periodic checkpoint stays.
        assert "last.ckpt keeps the last one" in out
    else:  # SIGTERM stops at a batch end, an optimiser step here
        assert f"[checkpoint] stopped at step {saved}" in out
    assert not (run_dir / "results.json").exists()


@pytest.mark.slow
def test_a_killed_teacher_fine_tune_leaves_no_entry_and_resumes(tmp_path, monkeypatch, capsys):
    teacher = ["teacher.finetune.max_epochs=3", "stages=[teacher]"]
    common = [*RESUMABLE, *teacher]
    whole_args = [*common, f"paths.cache_dir={tmp_path / 'whole'}", f"hydra.run.dir={tmp_path / 'a'}"]
    whole = cli_in_process(whole_args, monkeypatch, capsys)
    assert whole.returncode == 0, whole.stderr[-3000:]

    cache = tmp_path / "cache" / "teachers"
    args = [*common, f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'b'}"]
    proc = _start(args, tmp_path / "log")
    deadline = time.monotonic() + 300
    while not list(cache.glob(".*.checkpoints/last.ckpt")):
        assert proc.poll() is None and time.monotonic() < deadline, "no teacher checkpoint appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list(cache.glob("*/config.json")), "a killed fine-tune must leave no entry later runs would trust"

    again = cli_in_process(args, monkeypatch, capsys)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[teacher] resuming from" in again.stdout
    (entry,) = cache.glob("*/entry.json")
    (want,) = (tmp_path / "whole" / "teachers").glob("*/entry.json")
    assert json.loads(entry.read_text())["metrics"] == json.loads(want.read_text())["metrics"]
    got, expected = load_file(entry.parent / "model.safetensors"), load_file(want.parent / "model.safetensors")
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert not list(cache.glob(".*")), "checkpoints and temporary folders are gone once the entry exists"


@pytest.mark.slow
def test_a_damaged_teacher_checkpoint_in_the_cache_is_set_aside_and_the_entry_built(tmp_path, monkeypatch, capsys):
    common = [*RESUMABLE, "teacher.finetune.max_epochs=1", "stages=[teacher]"]
    whole = cli_in_process(
        [*common, f"paths.cache_dir={tmp_path / 'whole'}", f"hydra.run.dir={tmp_path / 'a'}"], monkeypatch, capsys
    )
    assert whole.returncode == 0, whole.stderr[-3000:]
    (want,) = (tmp_path / "whole" / "teachers").glob("*/entry.json")

    # What a full disk during the old copy-into-place left: a cut-short zip under the final name.
    checkpoints = tmp_path / "cache" / "teachers" / f".{want.parent.name}.checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "last.ckpt").write_bytes(b"PK\x03\x04" + bytes(4096))
    args = [*common, f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'b'}"]
    again = cli_in_process(args, monkeypatch, capsys)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{checkpoints / 'last.ckpt'} does not load" in again.stdout
    assert "set aside as last.ckpt.damaged-" in again.stdout and "training from step 0" in again.stdout
    entry = tmp_path / "cache" / "teachers" / want.parent.name
    assert json.loads((entry / "entry.json").read_text())["metrics"] == json.loads(want.read_text())["metrics"]
    got, expected = load_file(entry / "model.safetensors"), load_file(want.parent / "model.safetensors")
    assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_the_project_trainer_writes_checkpoints_atomically(tmp_path):
    trainer = build_trainer(
        compose(["teacher=tiny", "student=tiny"], tmp_path), 1, False, tmp_path, checkpoint_dir=tmp_path
    )
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


@pytest.mark.slow
def test_a_rerun_after_a_failure_past_the_last_step_keeps_both_attempts_and_the_final_losses(
    tmp_path, monkeypatch, capsys
):
    common = [*TINY_RUN, f"paths.cache_dir={tmp_path / 'cache'}"]
    whole = cli_in_process([*common, f"hydra.run.dir={tmp_path / 'whole'}"], monkeypatch, capsys)
    assert whole.returncode == 0, whole.stderr[-3000:]

    # The first attempt trains to its last step (and checkpoints it), then fails saving the student.
    from distill_zoo.pipeline import stages

    def full_disk(*args, **kwargs):
        raise StateError("no space left on the disk")

    run_dir, args = tmp_path / "run", [*common, f"hydra.run.dir={tmp_path / 'run'}"]
    with monkeypatch.context() as patch:
        patch.setattr(stages, "save_student", full_disk)
        first = cli_in_process(args, monkeypatch, capsys)
    assert first.returncode == 4 and (run_dir / "failed.json").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()

    again = cli_in_process(args, monkeypatch, capsys)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not (run_dir / "failed.json").exists(), "a finished run carries no failure beside its results"
    provenance = json.loads((run_dir / "provenance.json").read_text())
    first_attempt, second_attempt = provenance["attempts"]
    assert first_attempt["failure"]["error"] == "no space left on the disk" and "failure" not in second_attempt
    assert provenance["started"] == second_attempt["started"]
    record, want = (
        json.loads((run_dir / "results.json").read_text()),
        json.loads((tmp_path / "whole" / "results.json").read_text()),
    )
    assert record["budget"]["steps_done"] == want["budget"]["steps_done"] > 0
    assert record["final_losses"] and record["final_losses"] == want["final_losses"]


@pytest.mark.slow
def test_nan_loss_stops_the_run_names_the_term_and_writes_no_results(tmp_path, monkeypatch, capsys):
    cache = f"paths.cache_dir={tmp_path / 'cache'}"
    proc = run_cli(*TINY_RUN, "optimizer.lr=1e20", cache, f"hydra.run.dir={tmp_path / 'student'}")
    assert proc.returncode == 3
    assert "error: train/loss was nan, train/loss_kd was nan" in proc.stderr and "at step 1;" in proc.stderr
    assert not (tmp_path / "student" / "results.json").exists()
    assert not (tmp_path / "student" / "student").exists()

    bad_teacher = [*TINY_RUN, "teacher.finetune.optimizer.lr=1e20", f"paths.cache_dir={tmp_path / 'cache2'}"]
    in_process = cli_in_process([*bad_teacher, f"hydra.run.dir={tmp_path / 'teacher'}"], monkeypatch, capsys)
    assert in_process.returncode == 3 and "train/loss_task was nan" in in_process.stderr
    assert not list((tmp_path / "cache2" / "teachers").glob("*/config.json")), "a NaN teacher must never be cached"


@pytest.mark.slow
def test_bf16_run_checks_the_loss_too(tmp_path, monkeypatch, capsys):
    args = [*TINY_RUN, "optimizer.lr=1e20", "trainer.precision=bf16-mixed", f"paths.cache_dir={tmp_path / 'cache'}"]
    proc = cli_in_process([*args, f"hydra.run.dir={tmp_path / 'run'}"], monkeypatch, capsys)
    assert proc.returncode == 3 and "was nan at step" in proc.stderr, proc.stderr[-2000:]


@pytest.mark.slow
def test_multirun_with_failing_jobs_runs_the_rest_and_exits_1(tmp_path):
    from distill_zoo.report.jobs import find_failed_jobs

    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        "method=bogus,kd",
        "optimizer.lr=1e20,-1,1e-4",
        *TINY_RUN,
        f"hydra.sweep.dir={sweep}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    results = [json.loads(p.read_text()) for p in sweep.glob("*/results.json")]
    assert [(r["method"], r["config"]["optimizer"]["lr"]) for r in results] == [("kd", 1e-4)]
    failures = {Path(p).parent.name: json.loads(p.read_text()) for p in map(Path, sweep.glob("*/failed.json"))}
    # The first job fails (its config cannot be composed), and so do a NaN job and a config error.
    assert sorted(failures) == ["0_uncomposable", "1_uncomposable", "2_uncomposable", "3_kd_seed1", "4_kd_seed1"]
    assert "Could not find 'method/bogus'" in failures["0_uncomposable"]["error"]
    assert failures["3_kd_seed1"]["type"] == "NumericalError" and failures["3_kd_seed1"]["exit_code"] == 3
    assert failures["4_kd_seed1"]["type"] == "ConfigError" and failures["4_kd_seed1"]["exit_code"] == 2
    assert "optimizer.lr=-1 is invalid" in failures["4_kd_seed1"]["error"]
    listed = {Path(job.path).name: job.reason for job in find_failed_jobs(sweep)}
    assert set(listed) == set(failures) and "was nan at step" in listed["3_kd_seed1"]
    summary = (sweep / "summary.txt").read_text()
    assert "5 job(s) failed" in summary and "5 job(s) failed" in proc.stderr


@pytest.mark.slow
def test_a_finished_or_foreign_run_folder_is_refused_and_left_intact(tmp_path, monkeypatch, capsys):
    common = [*TINY_RUN, f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}"]
    assert cli_in_process(common, monkeypatch, capsys).returncode == 0
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}

    again = cli_in_process(common, monkeypatch, capsys)
    assert again.returncode == 2 and "already holds a finished run (results.json)" in again.stderr
    with pytest.raises(ConfigError, match="already holds a finished run"):
        claim_run_dir(_compose([*TINY_RUN, "seed=2", f"paths.output_dir={tmp_path / 'run'}"]), tmp_path / "run")
    after = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert after == before, "a refused rerun must not touch the finished run"

    # Provenance of the finished run.
    snapshot = tmp_path / "run" / ".hydra"
    assert {"config.yaml", "resolved.yaml", "overrides.yaml", "hydra.yaml"} <= {p.name for p in snapshot.iterdir()}
    provenance = json.loads((tmp_path / "run" / "provenance.json").read_text())
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert provenance["teacher_entry"] == record["teacher_entry"] is not None
    assert provenance["git_commit"] == record["git_commit"] and "torch" in provenance["versions"]
    assert provenance["hardware"] == record["hardware"]


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def _unfinished_run_is_kept_for_its_own_config(run_dir: Path, overrides: list[str]) -> None:
    """A killed run's folder is continued only by the same config, and only with resume=true."""
    assert claim_run_dir(_compose(overrides), run_dir) is True
    with pytest.raises(ConfigError, match=r"holds an unfinished run of another config \(.*seed: 1 vs 2"):
        claim_run_dir(_compose([*overrides, "seed=2"]), run_dir)
    with pytest.raises(ConfigError, match="set resume=true to continue it"):
        claim_run_dir(_compose([*overrides, "resume=false"]), run_dir)


PREFLIGHT_FAILURES = {
    "trainer.max_epoch=1": "did you mean trainer.max_epochs?",
    "+method.temprature=3": "did you mean method.temperature?",
    "data.max_length=600": "data.max_length=600 is longer than the teacher's 512 positions",
    "data.batch_size=0": "data.batch_size=0 is invalid",
}


def test_preflight_failures_exit_2_and_write_nothing(tmp_path, monkeypatch, capsys):
    """Each failure through run.py's entry point in this process; the first also in a real one."""
    run_dir = tmp_path / "run"
    for override, message in PREFLIGHT_FAILURES.items():
        args = [*TINY_RUN, override, f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run_dir}"]
        proc = cli_in_process(args, monkeypatch, capsys)
        assert proc.returncode == 2, (override, proc.stderr[-2000:])
        assert message in proc.stderr, (override, proc.stderr[-2000:])
        assert not run_dir.exists(), f"{override} left {sorted(p.name for p in run_dir.iterdir())}"
    override, message = next(iter(PREFLIGHT_FAILURES.items()))
    started = time.monotonic()
    proc = run_cli(*TINY_RUN, override, f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert time.monotonic() - started < 60
    assert not run_dir.exists()


def test_secrets_never_reach_what_a_run_writes(tmp_path, monkeypatch, capsys):
    secret = "wandb-key-9f8e7d6c5b4a"
    monkeypatch.setenv("WANDB_API_KEY", secret)
    args = [*TINY_RUN, "group=${oc.env:WANDB_API_KEY}", f"paths.cache_dir={tmp_path / 'cache'}"]
    proc = cli_in_process([*args, f"hydra.run.dir={tmp_path / 'run'}"], monkeypatch, capsys)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = [p for p in (tmp_path / "run").rglob("*") if p.is_file() and p.suffix != ".safetensors"]
    assert any(p.name == "results.json" for p in written)
    for path in written:
        assert secret not in path.read_text(errors="replace"), f"{path} holds the W&B key"
    assert json.loads((tmp_path / "run" / "results.json").read_text())["config"]["group"] == "<redacted>"


@pytest.mark.slow
def test_a_complete_cache_on_a_read_only_disk_is_used_without_writing_to_it(tmp_path, monkeypatch):
    from distill_zoo import locks

    cache = tmp_path / "cache"
    common = [*TINY_RUN, "method=kd", f"paths.cache_dir={cache}"]
    run_job([*common, f"hydra.run.dir={tmp_path / 'first'}"], tmp_path / "first")
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    assert any(p.parent.name == "teacher_outputs" for p in before), "the first run cached the teacher's outputs"

    class ReadOnlyLock:
        def __init__(self, path: str) -> None:
            raise OSError(30, "Read-only file system", path)

    monkeypatch.setattr(locks, "FileLock", ReadOnlyLock)
    record = run_job([*common, f"hydra.run.dir={tmp_path / 'second'}"], tmp_path / "second")
    assert record is not None and record.student.metrics
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*")} == before, "nothing in the cache was written"
