"""DistilBERT's initialisation from a teacher whose weights look trained (non-zero biases,
sharp attention): the copy computes what the layer-selected BERT computes. At a random
initialisation biases are 0 and attention is nearly uniform, so a wrong mapping of Q, K or
a bias would go unseen there."""

from __future__ import annotations

import torch

from distill_zoo.features import FeatureRequest
from distill_zoo.models import Encoder, random_masked_lm
from tests.conftest import TOKENIZER, padded_batch
from tests.helpers.distilbert import copy_and_bert_logits


def test_a_distilbert_copy_of_a_trained_looking_bert_computes_the_same_logits():
    torch.manual_seed(0)
    teacher = random_masked_lm(TOKENIZER, num_layers=4, hidden_size=32, num_heads=2, intermediate_size=64, dropout=0.0)
    with torch.no_grad():
        for name, p in teacher.named_parameters():
            if "word_embeddings" not in name:  # every other weight and bias moves well off its init
                p.add_(torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.5))
    got, expected, bert_copy = copy_and_bert_logits(teacher)
    with torch.no_grad():
        attention = Encoder(bert_copy)(padded_batch(), FeatureRequest(attentions=(0,))).attentions[0]
    assert float(attention[0].max()) > 0.5, "attention is far from uniform: Q and K matter"
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
