"""What is not a finished task run, or cannot be pushed, is refused in one line before any work."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from distill_zoo.export.cli import main
from tests.conftest import ROOT


def test_a_folder_without_a_run_is_refused(tmp_path, capsys):
    assert main([str(tmp_path), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a finished run" in err and err.count("\n") == 1
    assert not (tmp_path / "export-onnx").exists()


def test_a_corpus_run_is_refused(finished_run, tmp_path, capsys):
    record = json.loads((finished_run / "results.json").read_text())
    record |= {"task": None, "corpus": "corpus.txt", "main_metric": None, "eval_split": None}
    record["student"]["metrics"] = {}
    (tmp_path / "results.json").write_text(json.dumps(record))
    assert main([str(tmp_path), "--format", "hf"]) == 2
    assert "corpus (general) run" in capsys.readouterr().err
    assert not (tmp_path / "export-hf").exists()


def test_an_existing_export_is_not_overwritten(finished_run, exports, capsys):
    assert main([str(finished_run), "--format", "hf"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_push_without_a_token_fails_before_exporting(finished_run, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    out = tmp_path / "out"
    args = [str(finished_run), "--format", "hf", "--out", str(out), "--push-to-hub", "someone/student"]
    proc = subprocess.run(
        [sys.executable, "-m", "distill_zoo.export", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "needs a Hugging Face token" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_a_negative_max_drop_is_refused_before_exporting(finished_run, tmp_path, capsys):
    assert main([str(finished_run), "--format", "hf", "--out", str(tmp_path / "x"), "--max-drop", "-1"]) == 2
    assert "--max-drop -1 is negative" in capsys.readouterr().err and not (tmp_path / "x").exists()
