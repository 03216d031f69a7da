"""The three artefacts: what each writes, how each is loaded back to be measured, how it runs."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor
from transformers import PreTrainedModel

from distill_zoo.export.onnx import MODEL_FILE, OnnxClassifier, export_fp32, quantize_int8
from distill_zoo.models import load_classifier

FORMATS = ("hf", "onnx", "int8")
#: What runs each format when it is measured (named in the model card and the terminal).
RUNTIME = {
    "hf": "PyTorch (transformers)",
    "onnx": "ONNX Runtime, fp32",
    "int8": "ONNX Runtime, int8 weights (dynamic quantisation)",
}
#: The ``library_name`` of each format's model card.
LIBRARY = {"hf": "transformers", "onnx": "onnx", "int8": "onnx"}


def write_model(fmt: str, model: PreTrainedModel, sample: Mapping[str, Tensor], out: Path) -> None:
    """Write ``model`` to ``out`` in ``fmt``; ``sample`` is a padded dev batch to trace for ONNX."""
    if fmt == "hf":
        model.save_pretrained(out)
    elif fmt == "onnx":
        export_fp32(model, sample, out / MODEL_FILE)
    elif fmt == "int8":
        with tempfile.TemporaryDirectory() as tmp:
            export_fp32(model, sample, Path(tmp) / MODEL_FILE)
            quantize_int8(Path(tmp) / MODEL_FILE, out / MODEL_FILE)
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")


def load_model(fmt: str, out: Path, num_labels: int) -> PreTrainedModel | OnnxClassifier:
    """The artefact in ``out`` loaded as a user would load it: transformers or ONNX Runtime."""
    if fmt == "hf":
        return load_classifier(str(out), num_labels)
    return OnnxClassifier(out / MODEL_FILE, threads=torch.get_num_threads())
