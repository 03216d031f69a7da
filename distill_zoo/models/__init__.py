"""Hugging Face encoders behind one wrapper; teacher loading; student builders."""

from distill_zoo.models.classifier import load_classifier, load_masked_lm, random_classifier, random_masked_lm
from distill_zoo.models.dims import EncoderDims, encoder_dims
from distill_zoo.models.encoder import Encoder, FrozenEncoder
from distill_zoo.models.layer_selection import copy_with_layers, select_layers
from distill_zoo.models.pretrained import resolve_pretrained

__all__ = [
    "Encoder",
    "EncoderDims",
    "FrozenEncoder",
    "copy_with_layers",
    "encoder_dims",
    "load_classifier",
    "load_masked_lm",
    "random_classifier",
    "random_masked_lm",
    "resolve_pretrained",
    "select_layers",
]
