"""Distillation objectives: each combines pure losses and declares the features it reads."""

from distill_zoo.objectives.base import Objective
from distill_zoo.objectives.distilbert import DistilBERTObjective
from distill_zoo.objectives.distilbert_mlm import DistilBERTMLMObjective
from distill_zoo.objectives.distilgpt2 import DistilGPT2Objective
from distill_zoo.objectives.kd import KDObjective
from distill_zoo.objectives.lm_kd import CLMObjective, LMKDObjective
from distill_zoo.objectives.minilm import MiniLMObjective
from distill_zoo.objectives.mobilebert import MobileBERTObjective
from distill_zoo.objectives.pkd import PKDObjective
from distill_zoo.objectives.pseudo_label import PseudoLabelObjective
from distill_zoo.objectives.supervised import SupervisedObjective
from distill_zoo.objectives.tinybert import TinyBERTObjective

__all__ = [
    "CLMObjective",
    "DistilBERTMLMObjective",
    "DistilBERTObjective",
    "DistilGPT2Objective",
    "KDObjective",
    "LMKDObjective",
    "MiniLMObjective",
    "MobileBERTObjective",
    "Objective",
    "PKDObjective",
    "PseudoLabelObjective",
    "SupervisedObjective",
    "TinyBERTObjective",
]
