"""Hugging Face encoders and causal LMs behind one wrapper; teacher loading; student builders."""

from distill_zoo.models.causal_lm import is_causal_lm, load_causal_lm, load_tokenizer, random_causal_lm
from distill_zoo.models.classifier import load_classifier, load_masked_lm, random_classifier, random_masked_lm
from distill_zoo.models.dims import EncoderDims, encoder_dims
from distill_zoo.models.encoder import Encoder, FrozenEncoder
from distill_zoo.models.layer_selection import copy_with_layers, select_layers
from distill_zoo.models.pretrained import resolve_pretrained, resolve_source
from distill_zoo.models.vocabulary import check_same_vocabulary

__all__ = [
    "Encoder",
    "EncoderDims",
    "FrozenEncoder",
    "check_same_vocabulary",
    "copy_with_layers",
    "encoder_dims",
    "is_causal_lm",
    "load_causal_lm",
    "load_classifier",
    "load_masked_lm",
    "load_tokenizer",
    "random_causal_lm",
    "random_classifier",
    "random_masked_lm",
    "resolve_pretrained",
    "resolve_source",
    "select_layers",
]
