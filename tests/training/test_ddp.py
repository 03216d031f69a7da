"""DDP and FSDP on 2 CPU processes (gloo) give the same student as 1 process on the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT

SCRIPT = ROOT / "tests" / "helpers" / "ddp_train.py"


def train(devices: int, out, strategy: str = "ddp") -> dict[str, torch.Tensor]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PL_DISABLE_FORK": "1"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(devices), "8", str(out), strategy],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(out)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict[str, torch.Tensor]:
    """The reference: the same script's training on one process, run in this one (no launcher
    is involved with one device, so a new interpreter would only add its start-up)."""
    from tests.helpers.ddp_train import main

    out = tmp_path_factory.mktemp("single") / "single.pt"
    main(1, 8, str(out))
    return torch.load(out)


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tmp_path, single):
    ddp = train(2, tmp_path / "ddp.pt")
    assert single.keys() == ddp.keys()
    for name in single:
        torch.testing.assert_close(ddp[name], single[name], rtol=1e-4, atol=1e-5, msg=name)
    from tests.conftest import tiny_bert

    start = tiny_bert(seed=1).state_dict()
    moved = any(not torch.allclose(start[k], single[k]) for k in single if k in start)
    assert moved, "training changed nothing, so the comparison would be vacuous"


@pytest.mark.slow
def test_two_process_fsdp_matches_single_process(tmp_path, single):
    """Teacher and student sharded block by block over 2 processes: the gathered student is the
    one a single process trains (gradients reduce-scattered, clipping over the whole norm)."""
    fsdp = train(2, tmp_path / "fsdp.pt", strategy="fsdp")
    assert single.keys() == fsdp.keys()
    for name in single:
        torch.testing.assert_close(fsdp[name], single[name], rtol=1e-4, atol=1e-5, msg=name)
