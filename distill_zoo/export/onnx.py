"""The student as ONNX: fp32 export, int8 dynamic quantisation, and a runtime session that
answers like a model so that the eval stage's latency function can time it.

The exporter is PyTorch's TorchScript-based one (``dynamo=False``): it needs no ``onnxscript``
and traces a Hugging Face encoder with dynamic batch and sequence axes. What tracing fixes as a
constant is checked where it matters: export re-measures the dev score of the ONNX file itself.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel

from distill_zoo.models.encoder import MODEL_INPUTS

MODEL_FILE = "model.onnx"
OPSET = 17


class _Logits(nn.Module):
    """``model(**inputs).logits`` with the inputs by position, as the tracing exporter passes them."""

    def __init__(self, model: PreTrainedModel, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.model(**dict(zip(self.names, inputs))).logits


def model_inputs(model: PreTrainedModel) -> tuple[str, ...]:
    """The inputs the model takes (``token_type_ids`` only where its forward accepts them)."""
    accepted = inspect.signature(model.forward).parameters
    return tuple(name for name in MODEL_INPUTS if name in accepted)


def export_fp32(model: PreTrainedModel, sample: Mapping[str, Tensor], path: Path) -> None:
    """Write ``model`` to ``path`` as fp32 ONNX: inputs by name, output ``logits`` (batch, labels),
    batch and sequence axes dynamic. ``sample`` is one padded batch of real inputs to trace."""
    names = model_inputs(model)
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    with warnings.catch_warnings():
        # The legacy exporter's deprecation notice and the tracer's notes on constant Python
        # values: expected here, and the exported file is scored again on dev afterwards.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Logits(model.eval(), names),
            tuple(sample[name] for name in names),
            str(path),
            input_names=list(names),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(fp32: Path, path: Path) -> None:
    """Dynamic quantisation of an fp32 ONNX file: int8 weights, activations quantised at run time.

    ONNX Runtime's pre-processing (``quant_pre_process``) is left out: its symbolic shape
    inference fails on traced Hugging Face encoders, and dynamic quantisation of the MatMul
    weights does not need it. Its advice to run it, logged on every call, is muted.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(fp32, path, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


class OnnxClassifier:
    """An ONNX Runtime CPU session called like a Hugging Face classifier: keyword tensors in,
    logits out. ``to`` and ``eval`` are no-ops so that the eval stage's latency function, which
    moves a model to the CPU and sets eval mode, times the session as it times a model.

    Args:
        path: the ONNX file.
        threads: intra-op threads; the eval stage's latency is measured with torch's thread
            count, so the same count keeps the two comparable.
    """

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # ONNX Runtime's threads otherwise spin for a while after each run, taking the cores
        # from whatever runs next (a torch model timed beside it, say).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = tuple(node.name for node in self.session.get_inputs())

    def __call__(self, **batch: Tensor) -> Tensor:
        feeds = {name: batch[name].cpu().numpy() for name in self.inputs}
        return torch.from_numpy(self.session.run(["logits"], feeds)[0])

    def to(self, device: str) -> OnnxClassifier:
        return self

    def eval(self) -> OnnxClassifier:
        return self
