"""Batch-1 CPU latency of teacher and student, timed side by side so their ratio survives a busy CPU.

Timing the teacher's calls and then the student's lets anything else on the machine (another
job, a sweep's next process starting) land on one model only: the same two models were
recorded at 0.04x to 202x. Here the two are timed **round by round**: each round runs one
call of each model on the same example, in alternating order, so load that comes and goes
falls on both. The thread count is pinned for the measurement (``eval.latency_threads``, 1
by default: batch-1 serving on a shared CPU) and recorded.

A figure is flagged ``latency_unstable`` when its spread says the clock was disturbed: the
90th percentile above :data:`MAX_SPREAD` times the median, or the medians of the first and
second half of the rounds more than :data:`MAX_DRIFT` apart.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from tqdm.auto import tqdm

#: p90 / median above this: the timings are too spread to quote one figure.
MAX_SPREAD = 1.5
#: Relative difference of the two halves' medians above this: the machine's load changed.
MAX_DRIFT = 0.2


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """``torch.set_num_threads(count)`` for the block, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.inference_mode()
def paired_cpu_latency(
    models: Mapping[str, torch.nn.Module],
    examples: list[Mapping[str, torch.Tensor]],
    runs: int,
    warmup: int,
    threads: int = 1,
) -> dict[str, dict[str, Any]]:
    """Per model: ``latency_ms_median``, ``latency_ms_p90``, ``latency_threads``,
    ``latency_spread`` (p90 / median) and ``latency_unstable``, from ``runs`` interleaved rounds
    after ``warmup`` untimed ones; round ``i`` runs ``examples[i % len(examples)]`` on each model."""
    if runs < 1 or not examples:
        raise ValueError(f"paired_cpu_latency needs runs >= 1 and examples, got {runs} runs, {len(examples)} examples")
    roles = list(models)
    for model in models.values():
        model.to("cpu").eval()
    timings: dict[str, list[float]] = {role: [] for role in roles}
    with torch_threads(threads):
        for i in tqdm(range(warmup + runs), desc="latency", leave=False):
            inputs = examples[i % len(examples)]
            for role in roles if i % 2 == 0 else roles[::-1]:
                start = time.perf_counter()
                models[role](**inputs)
                if i >= warmup:
                    timings[role].append((time.perf_counter() - start) * 1000.0)
    return {role: summarise(values, threads) for role, values in timings.items()}


def summarise(timings: list[float], threads: int) -> dict[str, Any]:
    """Median, p90, spread and the instability flag of one model's timings (in call order)."""
    ordered = sorted(timings)
    median = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    half = len(timings) // 2
    drift = 0.0
    if half >= 1:
        first, second = statistics.median(timings[:half]), statistics.median(timings[half:])
        drift = abs(first - second) / max(min(first, second), 1e-9)
    spread = p90 / max(median, 1e-9)
    return {
        "latency_ms_median": median,
        "latency_ms_p90": p90,
        "latency_threads": threads,
        "latency_spread": spread,
        "latency_unstable": spread > MAX_SPREAD or drift > MAX_DRIFT,
    }
