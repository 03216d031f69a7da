"""``latency``: what distillation buys: CPU inference latency of teacher vs student, and of the
student compiled (``torch.compile``), int8 (dynamic quantisation of its Linear layers)
and in ONNX Runtime (fp32 and int8, when ``onnxruntime`` is installed), at batch 1 and 32.

The dev-score change of each deployable form is measured on a trained student by
``python -m distill_zoo.export RUN_DIR --format onnx|int8``; this benchmark measures speed.
"""

from __future__ import annotations

import copy
import importlib.util
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from distill_zoo.bench.harness import emit, interleaved, random_batch, teacher_and_student

SIZES: dict[str, dict[str, Any]] = {
    "full": {"batches": (1, 32), "length": 64, "rounds": 30},
    "tiny": {"batches": (1,), "length": 16, "rounds": 2},
}
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def run(size: str) -> dict[str, Any]:
    opts = SIZES[size]
    pair = teacher_and_student(size)
    teacher, student = pair.teacher.eval(), pair.student.eval()
    int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(student), {torch.nn.Linear}, dtype=torch.qint8)
    compiled = torch.compile(copy.deepcopy(student)) if size == "full" else None
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        batches = {
            rows: {k: v for k, v in random_batch(pair.vocab_size, rows, opts["length"]).items() if k in INPUTS}
            for rows in opts["batches"]
        }
        # Teacher vs student first, for every batch size: compiled and ONNX Runtime variants
        # keep thread pools that would slow whatever is timed after them.
        pairs = {
            rows: interleaved({"teacher": _torch(teacher, batch), "student": _torch(student, batch)}, opts["rounds"], 3)
            for rows, batch in batches.items()
        }
        for rows, batch in batches.items():
            forms = {"student": _torch(student, batch), "int8": _torch(int8, batch)}
            if compiled is not None:
                forms["compiled"] = _torch(compiled, batch)
            if importlib.util.find_spec("onnxruntime") is not None:
                forms.update(_onnx_variants(student, batch, Path(tmp)))
            forms_ms = interleaved(forms, opts["rounds"], 3)
            ratios = {"teacher/student": pairs[rows]["teacher"] / pairs[rows]["student"]}
            ratios |= {
                f"student/{name}": forms_ms["student"] / forms_ms[name] for name in forms_ms if name != "student"
            }
            results[f"batch{rows}"] = {"median_ms": {"pair": pairs[rows], "forms": forms_ms}, "ratios": ratios}
    layers = (teacher.config.num_hidden_layers, student.config.num_hidden_layers)
    note = "teacher/student = speed-up of the student; student/X = speed-up of form X over the fp32 student"
    return emit("latency", size, {"layers": layers, "length": opts["length"], "results": results, "note": note})


def _torch(model: Any, batch: dict[str, torch.Tensor]) -> Callable[[], None]:
    def call() -> None:
        with torch.inference_mode():
            model(**batch)

    return call


def _onnx_variants(
    model: PreTrainedModel, batch: dict[str, torch.Tensor], folder: Path
) -> dict[str, Callable[[], None]]:
    """fp32 ONNX of ``model`` and its int8 dynamic quantisation (as ``distill_zoo.export`` writes
    them), run by ONNX Runtime."""
    from distill_zoo.export.onnx import OnnxClassifier, export_fp32, quantize_int8

    fp32, int8 = folder / "student.onnx", folder / "student.int8.onnx"
    if not fp32.exists():
        export_fp32(model, batch, fp32)
        quantize_int8(fp32, int8)
    threads = torch.get_num_threads()
    sessions = {"onnx": OnnxClassifier(fp32, threads), "onnx_int8": OnnxClassifier(int8, threads)}
    return {name: (lambda s=session: s(**batch)) for name, session in sessions.items()}  # type: ignore[misc]
