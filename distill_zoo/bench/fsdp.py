"""``fsdp``: model-state memory per device under ``strategy=fsdp`` vs ``strategy=ddp``, 2 CPU processes.

Each run is a fresh ``python -m distill_zoo.bench.fsdp_worker`` (its own process group).
Full: SmolLM2-135M -> its 15-layer half; tiny: a 4-layer random Llama -> 2 layers. The
figures are the bytes of teacher and student parameters, gradients and AdamW moments each
rank holds right before an optimiser step (the largest rank is reported), counted, not
sampled: activations, the gathered block of the moment and allocator slack are not in them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from distill_zoo.bench.harness import emit

DEVICES = 2


def run(size: str) -> dict[str, Any]:
    per_strategy: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in ("ddp", "fsdp"):
            prefix = str(Path(tmp) / strategy)
            command = [sys.executable, "-m", "distill_zoo.bench.fsdp_worker", size, strategy, str(DEVICES), prefix]
            subprocess.run(command, check=True, env={**os.environ, "PL_DISABLE_FORK": "1"}, capture_output=True)
            ranks = [json.loads(Path(f"{prefix}.{r}.json").read_text()) for r in range(DEVICES)]
            largest = max(ranks, key=lambda counts: sum(counts.values()))
            per_strategy[strategy] = {**largest, "total": sum(largest.values())}
    mib = {s: {k: round(v / 2**20, 3) for k, v in counts.items()} for s, counts in per_strategy.items()}
    return emit(
        "fsdp",
        size,
        {
            "devices": DEVICES,
            "model_state_mib_per_device": mib,
            "ratio_fsdp_to_ddp": per_strategy["fsdp"]["total"] / per_strategy["ddp"]["total"],
            "note": "bytes of parameters, gradients and AdamW moments on the largest rank, before an optimiser step",
        },
    )
