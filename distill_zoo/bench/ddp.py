"""``ddp``: the same global batch on 2 CPU processes (Lightning DDP, gloo) vs 1: loss curve and throughput.

Each run is a fresh ``python -m distill_zoo.bench.ddp_worker`` process (DDP needs its
own process group); the processes are timed after their first step.
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

STEPS = {"full": 12, "tiny": 3}


def run(size: str) -> dict[str, Any]:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for devices in (1, 2):
            out = Path(tmp) / f"{devices}.json"
            env = {**os.environ, "PL_DISABLE_FORK": "1"}
            command = [
                sys.executable,
                "-m",
                "distill_zoo.bench.ddp_worker",
                size,
                str(devices),
                str(STEPS[size]),
                str(out),
            ]
            subprocess.run(command, check=True, env=env, capture_output=True, text=True)
            results[devices] = json.loads(out.read_text())
    one, two = results[1], results[2]
    gap = max(abs(a - b) for a, b in zip(one["losses"], two["losses"]))
    return emit(
        "ddp",
        size,
        {
            "steps": STEPS[size],
            "losses_1": one["losses"],
            "losses_2": two["losses"],
            "max_loss_gap": gap,
            "samples_per_s": {"1 process": one["samples_per_s"], "2 processes": two["samples_per_s"]},
            "ratio": two["samples_per_s"] / one["samples_per_s"],
            "note": "ratio = throughput of 2 processes / 1 on the same 2 cores and global batch",
        },
    )
