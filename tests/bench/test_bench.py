"""Every benchmark runs at tiny size and prints one JSON line with its medians and ratios
(what the numbers are is for docs/benchmarks.md; here they only have to be measured)."""

from __future__ import annotations

import json

import pytest

from distill_zoo.bench.__main__ import BENCHMARKS, main


@pytest.mark.parametrize("name", BENCHMARKS)
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
