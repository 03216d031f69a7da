"""DistilBERT's copy of a BERT masked LM against the layer-selected BERT, on one padded batch."""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from distill_zoo.models.students import distilbert_student, from_teacher_layers
from tests.conftest import padded_batch


def copy_and_bert_logits(teacher: PreTrainedModel) -> tuple[torch.Tensor, torch.Tensor, PreTrainedModel]:
    """Logits of ``teacher``'s DistilBERT copy and of its layer-selected BERT (token types all 0)
    at the batch's real tokens, and that BERT. BERT adds token-type embedding 0 at every
    position and DistilBERT has no token types, so it is folded into the copy's positions."""
    student = distilbert_student(teacher, num_labels=2).eval()
    bert_copy = from_teacher_layers(teacher, num_labels=2).eval()
    batch = padded_batch()
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        expected = bert_copy(**inputs, token_type_ids=torch.zeros_like(batch["input_ids"])).logits
        student.distilbert.embeddings.position_embeddings.weight += (
            teacher.bert.embeddings.token_type_embeddings.weight[0]
        )
        got = student(**inputs).logits
    real = batch["attention_mask"].bool()
    return got[real], expected[real], bert_copy
