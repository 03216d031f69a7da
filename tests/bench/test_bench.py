"""Every benchmark runs at tiny size and prints one JSON line with its medians and ratios
(what the numbers are is for docs/benchmarks.md; here they only have to be measured)."""

from __future__ import annotations

import json

import pytest

from distill_zoo.bench.__main__ import BENCHMARKS, main


@pytest.mark.parametrize("name", [name for name in BENCHMARKS if name != "fsdp"])  # fsdp: its own test below
def test_benchmark_runs_and_prints_medians_and_ratios(name, capsys):
    assert main([name, "--size", "tiny"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["bench"] == name and line["size"] == "tiny" and "torch" in line["hardware"]
    ratios = list(_ratios(line))
    assert ratios and all(isinstance(r, float) and r > 0 for r in ratios)


def _ratios(node):
    """Every number under a key starting with ``ratio``, at any depth."""
    for key, value in node.items():
        if key.startswith("ratio"):
            yield from value.values() if isinstance(value, dict) else [value]
        elif isinstance(value, dict):
            yield from _ratios(value)


def test_fsdp_holds_about_half_the_model_state_of_ddp_on_two_processes(capsys):
    """The measured bytes per rank, not a formula: sharding over 2 halves every kind of state."""
    assert main(["fsdp", "--size", "tiny"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["bench"] == "fsdp" and line["size"] == "tiny" and 0 < line["ratio_fsdp_to_ddp"] < 0.65
    ddp, fsdp = line["model_state_mib_per_device"]["ddp"], line["model_state_mib_per_device"]["fsdp"]
    for kind in ("teacher_params", "student_params", "student_grads", "optimizer_state"):
        assert 0.4 * ddp[kind] <= fsdp[kind] <= 0.65 * ddp[kind], kind
