"""DistilBERT's initialisation from a teacher whose weights look trained (non-zero biases,
sharp attention): the copy computes what the layer-selected BERT computes. At a random
initialisation biases are 0 and attention is nearly uniform, so a wrong mapping of Q, K or
a bias would go unseen there."""

from __future__ import annotations

import torch

from distill_zoo.features import FeatureRequest
from distill_zoo.models import Encoder, random_masked_lm
from distill_zoo.models.students import distilbert_student, from_teacher_layers
from tests.conftest import TOKENIZER, padded_batch


def test_a_distilbert_copy_of_a_trained_looking_bert_computes_the_same_logits():
    torch.manual_seed(0)
    teacher = random_masked_lm(TOKENIZER, num_layers=4, hidden_size=32, num_heads=2, intermediate_size=64, dropout=0.0)
    with torch.no_grad():
        for name, p in teacher.named_parameters():
            if "word_embeddings" not in name:  # every other weight and bias moves well off its init
                p.add_(torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.5))
    student = distilbert_student(teacher, num_labels=2).eval()
    bert_copy = from_teacher_layers(teacher, num_labels=2).eval()
    batch = padded_batch()
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        expected = bert_copy(**inputs, token_type_ids=torch.zeros_like(batch["input_ids"])).logits
        student.distilbert.embeddings.position_embeddings.weight += (
            teacher.bert.embeddings.token_type_embeddings.weight[0]
        )  # BERT adds token type 0 at every position; DistilBERT has no token types
        got = student(**inputs).logits
        attention = Encoder(bert_copy)(batch, FeatureRequest(attentions=(0,))).attentions[0]
    real = batch["attention_mask"].bool()
    assert float(attention[0].max()) > 0.5, "attention is far from uniform: Q and K matter"
    torch.testing.assert_close(got[real], expected[real], rtol=1e-4, atol=1e-4)
