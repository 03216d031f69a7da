"""Fake clocks for latency tests: time that passes only when a model does known work.

The eval stages time forward passes and generation with ``time.perf_counter``; these clocks
replace it (in :mod:`distill_zoo.pipeline.eval_stage`, :mod:`~distill_zoo.pipeline.latency` and
:mod:`~distill_zoo.pipeline.lm_eval` only) with a counter of milliseconds that the test advances
from a model's forward, so a measured latency says exactly which calls were timed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from torch import nn
from torch.nn.modules.module import register_module_forward_pre_hook
from transformers.modeling_layers import GradientCheckpointingLayer


class FakeClock:
    """``perf_counter`` in seconds of a clock that only moves by :meth:`advance` (milliseconds)."""

    def __init__(self) -> None:
        self.ms = 0.0

    def advance(self, ms: float) -> None:
        self.ms += ms

    def perf_counter(self) -> float:
        return self.ms / 1000.0


def use_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """Make the eval stages' timers (forward latency, generation speed) read ``clock``."""
    from distill_zoo.pipeline import eval_stage, latency, lm_eval

    for module in (eval_stage, latency, lm_eval):
        monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=clock.perf_counter))


@contextmanager
def layer_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    """A clock on which every transformer block's forward (BERT, GPT-2, Llama, DistilBERT
    layers) takes 1 ms: a model's batch-1 latency is then its depth in milliseconds."""
    clock = FakeClock()

    def tick(module: nn.Module, args: tuple) -> None:
        if isinstance(module, GradientCheckpointingLayer):
            clock.advance(1.0)

    use_clock(monkeypatch, clock)
    handle = register_module_forward_pre_hook(tick)
    try:
        yield clock
    finally:
        handle.remove()


def costing(clock: FakeClock, cost_ms: Callable[..., float]) -> Callable[..., None]:
    """A forward pre-hook (``with_kwargs=True``) advancing ``clock`` by ``cost_ms(**kwargs)``."""

    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        clock.advance(cost_ms(**kwargs))

    return hook
