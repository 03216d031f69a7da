"""The teacher-output cache: the size estimate that decides ``teacher_cache=auto`` is the size
of what is written, and padding positions hold what the teacher computes on the tokenizer's
own padding (a pad id other than 0, as RoBERTa's 1)."""

from __future__ import annotations

import numpy as np
import torch

from distill_zoo.features import FeatureRequest
from distill_zoo.models import FrozenEncoder
from distill_zoo.models.cached import CachedTeacher, storage_bytes, stored_request, write_teacher_outputs
from tests.conftest import padded_batch, tiny_bert


def _batches(lengths: tuple[int, ...]) -> list[dict[str, torch.Tensor]]:
    batches = []
    for seed, length in enumerate(lengths):
        batch = padded_batch(batch_size=2, length=length, seed=seed)
        batch["example_index"] = torch.arange(2) + 2 * seed
        batches.append(batch)
    return batches


def test_the_size_estimate_is_the_size_of_the_written_arrays(tmp_path):
    teacher = FrozenEncoder(tiny_bert(num_layers=2, hidden_size=16, num_labels=3))
    request = FeatureRequest(logits=True, hidden_states=(0, 2), attentions=(1,), scores=(0,), qkv=(1,))
    write_teacher_outputs(teacher, _batches((6, 5)), request, examples=4, max_tokens=6, folder=tmp_path, description={})
    written = sum(np.load(path, mmap_mode="r").nbytes for path in tmp_path.glob("*.npy"))
    # 2 hidden states and Q/K/V of layers 0 and 1 (the attention layers) of 4 x 6 x 16, plus 4 x 3 logits, float32.
    assert written == 4 * (4 * 6 * 16 * (2 + 3 * 2) + 4 * 3)
    assert storage_bytes(stored_request(request), examples=4, max_tokens=6, width=16, labels=3) == written


def test_padding_positions_hold_the_teacher_on_the_tokenizers_pad_id(tmp_path):
    teacher = FrozenEncoder(tiny_bert(num_layers=2))
    request = FeatureRequest(hidden_states=(2,))
    batches = _batches((5,))
    pads = {"input_ids": 1, "token_type_ids": 0, "attention_mask": 0}
    write_teacher_outputs(teacher, batches, request, 2, 8, tmp_path, {}, pad_values=pads)
    cached = CachedTeacher(tmp_path, num_layers=2, num_heads=2)
    wide = {
        "input_ids": torch.cat([batches[0]["input_ids"], torch.ones(2, 3, dtype=torch.long)], 1),
        "attention_mask": torch.cat([batches[0]["attention_mask"], torch.zeros(2, 3, dtype=torch.long)], 1),
        "token_type_ids": torch.zeros(2, 8, dtype=torch.long),
        "example_index": batches[0]["example_index"],
    }
    live = teacher(wide, request).hidden_states[2]
    torch.testing.assert_close(cached(wide, request).hidden_states[2], live, atol=1e-5, rtol=1e-5)
    zeros = dict(wide, input_ids=torch.cat([batches[0]["input_ids"], torch.zeros(2, 3, dtype=torch.long)], 1))
    assert not torch.allclose(teacher(zeros, request).hidden_states[2][:, 5:], live[:, 5:], atol=1e-4)
