"""The model card says what the student is, how it was made, and what the export scores."""

from __future__ import annotations

import json
import shlex

from huggingface_hub import ModelCard

from tests.conftest import record_at


def test_card_front_matter_and_sections(finished_run, exports):
    record = record_at(finished_run)
    command = json.loads((finished_run / "provenance.json").read_text())["command"]
    for fmt, library in (("hf", "transformers"), ("onnx", "onnx"), ("int8", "onnx")):
        card = ModelCard.load(exports[fmt].out / "README.md")
        assert {"distillation", record.method} <= set(card.data.tags)
        assert card.data.library_name == library
        assert card.data.metrics == ["acc"]
        text = card.text
        assert record.teacher_entry in text and f"`{record.method}`" in text and "temperature: 2.0" in text
        assert f"| acc | {record.student.metrics['acc']:.4f} |" in text
        assert shlex.join(["python", *command]) in text
        assert f"python -m distill_zoo.export {finished_run} --format {fmt}" in text
        assert str(record.git_commit) in text
        assert "max_eval_samples: 32" in text and "Parameters: " in text and "latency" in text
        # Paths: only those the run recorded (its own folder); the teacher's cache path is not named.
        assert record.teacher.path not in text
