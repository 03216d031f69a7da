"""distill_zoo: compare knowledge-distillation methods for transformer encoders.

Layers, imported one way only:
``losses`` (pure tensor math) <- ``objectives`` (combine losses, own projections)
<- ``training`` (the shared LightningModule) <- ``pipeline`` (stages) <- ``run.py``.
``features`` (the typed output record), ``models`` and ``data`` sit beside them.
"""

__version__ = "0.1.0"
