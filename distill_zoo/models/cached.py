"""The frozen teacher's outputs, computed once and read back: a teacher that costs no forward pass.

A frozen teacher in eval mode gives the same outputs for the same example every epoch
and in every job of a sweep. :func:`write_teacher_outputs` runs it once over a dataset
(in file order) and stores, per example, what the objective reads: logits, hidden
states by index, and the Q/K/V projections of attention layers (attention scores and
probabilities are derived from Q and K with each batch's mask, as the live encoder
does). :class:`CachedTeacher` answers a :class:`FeatureRequest` from those arrays,
memory-mapped, by the batch's ``example_index``.

Every batch is padded to the longest example before the teacher sees it, so per-token
arrays hold the teacher's values at padding positions too: a batch reads the first
``L`` positions, its own padded length, and gets what the live teacher computes on that
batch, padding included (losses with a reference reduction average over padding). Values
are stored as float32 and read back in the dtype the teacher produced them in (the
pipeline caches float32 runs only), so they equal the live teacher's up to float
rounding of a differently shaped matmul (tested to 1e-5).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from distill_zoo.errors import NumericalError
from distill_zoo.features import EncoderFeatures, FeatureRequest
from distill_zoo.models.cache_check import META, array_checks
from distill_zoo.models.capture import attention_probs, attention_scores
from distill_zoo.models.encoder import Encoder


def stored_request(request: FeatureRequest) -> FeatureRequest:
    """What to store to answer ``request`` (resolved): attention layers need their Q/K/V."""
    layers = tuple(sorted(set(request.qkv) | set(request.attentions) | set(request.scores)))
    return FeatureRequest(logits=request.logits, hidden_states=request.hidden_states, qkv=layers)


def storage_bytes(request: FeatureRequest, examples: int, max_tokens: int, width: int, labels: int) -> int:
    """Bytes the float32 arrays of ``request`` take for ``examples`` examples."""
    per_token = (len(request.hidden_states) + 3 * len(request.qkv)) * width
    return 4 * examples * (per_token * max_tokens + (labels if request.logits else 0))


@torch.no_grad()
def write_teacher_outputs(
    teacher: Encoder,
    batches: Iterable[Mapping[str, Tensor]],
    request: FeatureRequest,
    examples: int,
    max_tokens: int,
    folder: Path,
    description: dict[str, Any],
    pad_values: Mapping[str, int] | None = None,
) -> None:
    """Run ``teacher`` over ``batches`` (each with ``example_index``) and store ``request``'s
    outputs in ``folder``, written into a temporary folder and renamed into place.

    ``pad_values``: the padding value of each per-token input (``input_ids``: the pad
    token ...); every batch is padded with them to ``max_tokens`` first. Defaults to the
    ids and masks of a BERT-style tokenizer (pad id 0)."""
    pad_values = dict(pad_values if pad_values is not None else PAD_VALUES)
    request = stored_request(request)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    arrays: dict[str, np.memmap] = {}
    dtypes: dict[str, str] = {}
    device = next(teacher.parameters()).device
    try:
        for batch in tqdm(batches, desc="teacher outputs", unit="batch", leave=False):
            index = batch["example_index"].numpy()
            padded = pad_to_length(batch, max_tokens, pad_values)
            inputs = {k: v.to(device) for k, v in padded.items() if isinstance(v, Tensor)}
            out = teacher(inputs, request)
            for name, value in _named(out, request).items():
                if not bool(torch.isfinite(value).all()):
                    raise NumericalError(
                        f"the teacher's {name} output is not finite for some of examples {index[:4].tolist()}...; "
                        f"nothing was cached in {folder}. The teacher is broken: fine-tune it again (delete its cache "
                        "entry, or lower teacher.finetune.optimizer.lr), or check its weights"
                    )
                dtypes[name] = str(value.dtype).removeprefix("torch.")
                if name not in arrays:
                    shape = (
                        (examples, *value.shape[1:]) if value.dim() == 2 else (examples, max_tokens, value.shape[-1])
                    )
                    arrays[name] = np.lib.format.open_memmap(tmp / f"{name}.npy", "w+", np.float32, shape)
                target = arrays[name]
                if value.dim() == 2:
                    target[index] = value.float().cpu().numpy()
                else:
                    target[index] = value.float().cpu().numpy()
        for array in arrays.values():
            array.flush()
        names = sorted(arrays)
        arrays.clear()  # close the maps: the checks read the files
        meta = {
            **description,
            "examples": examples,
            "max_tokens": max_tokens,
            "arrays": names,
            "dtypes": dtypes,
            "causal": teacher.causal,
        }
        meta["checks"] = {name: array_checks(tmp / f"{name}.npy") for name in meta["arrays"]}
        (tmp / META).write_text(
            json.dumps(meta, indent=2, sort_keys=True, default=str)
        )  # last: it vouches for the rest
        shutil.rmtree(folder, ignore_errors=True)
        tmp.replace(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


#: Padding of a BERT-style tokenizer's per-token inputs (pad id 0, token type 0, mask 0).
PAD_VALUES = {"input_ids": 0, "token_type_ids": 0, "attention_mask": 0}


def pad_to_length(batch: Mapping[str, Any], length: int, pad_values: Mapping[str, int]) -> dict[str, Any]:
    """``batch`` with every per-token input named in ``pad_values`` right-padded to ``length``."""
    padded = dict(batch)
    for name, value in pad_values.items():
        tensor = batch.get(name)
        if isinstance(tensor, Tensor) and tensor.shape[1] < length:
            padded[name] = torch.nn.functional.pad(tensor, (0, length - tensor.shape[1]), value=value)
    return padded


def _named(out: EncoderFeatures, request: FeatureRequest) -> dict[str, Tensor]:
    named: dict[str, Tensor] = {}
    if request.logits:
        named["logits"] = out.requested_logits()
    for i in request.hidden_states:
        named[f"hidden_{i}"] = out.hidden_states[i]
    for i in request.qkv:
        named[f"q_{i}"], named[f"k_{i}"], named[f"v_{i}"] = out.queries[i], out.keys[i], out.values[i]
    return named


def is_complete(folder: Path) -> bool:
    return (folder / META).is_file()


class CachedTeacher(nn.Module):
    """A teacher read from :func:`write_teacher_outputs`'s folder (memory-mapped).

    Args:
        folder: the stored outputs.
        num_layers / num_heads: the teacher's, to resolve requests and split heads.
    """

    def __init__(self, folder: Path, num_layers: int, num_heads: int) -> None:
        super().__init__()
        self.folder, self.num_layers, self.num_heads = folder, num_layers, num_heads
        meta = json.loads((folder / META).read_text())
        self.arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in meta["arrays"]}
        #: The array names the entry holds (``logits``, ``hidden_<i>``, ``q_<i>`` ...), sorted.
        self.stored: list[str] = sorted(meta["arrays"])
        #: The dtype each array is read back in: the one the teacher produced it in.
        self.dtypes = {name: getattr(torch, meta.get("dtypes", {}).get(name, "float32")) for name in self.stored}
        #: A causal LM's outputs: attention probabilities are causal (entries without the key are not).
        self.causal = bool(meta.get("causal", False))

    def covers(self, request: FeatureRequest) -> bool:
        """Whether every output ``request`` asks for is stored."""
        need = stored_request(request.resolve(self.num_layers))
        names = ["logits"] if need.logits else []
        names += [f"hidden_{i}" for i in need.hidden_states] + [f"q_{i}" for i in need.qkv]
        return all(name in self.arrays for name in names)

    def forward(self, batch: Mapping[str, Tensor], request: FeatureRequest) -> EncoderFeatures:
        request = request.resolve(self.num_layers)
        mask = batch["attention_mask"]
        index = batch["example_index"].cpu().numpy()
        length = mask.shape[1]

        def read(name: str, tokens: bool = True) -> Tensor:
            rows = self.arrays[name][index]
            values = torch.from_numpy(np.ascontiguousarray(rows[:, :length] if tokens else rows))
            return values.to(device=mask.device, dtype=self.dtypes[name])

        layers = set(request.scores) | set(request.attentions) | set(request.qkv)
        q = {i: read(f"q_{i}") for i in layers}
        k = {i: read(f"k_{i}") for i in layers}
        scores = {
            i: attention_scores(q[i], k[i], self.num_heads) for i in set(request.scores) | set(request.attentions)
        }
        return EncoderFeatures(
            attention_mask=mask,
            num_layers=self.num_layers,
            logits=read("logits", tokens=False) if request.logits else None,
            hidden_states={i: read(f"hidden_{i}") for i in request.hidden_states},
            attentions={i: attention_probs(scores[i], mask, self.causal) for i in request.attentions},
            scores={i: scores[i] for i in request.scores},
            queries={i: q[i] for i in request.qkv},
            keys={i: k[i] for i in request.qkv},
            values={i: read(f"v_{i}") for i in request.qkv},
        )
