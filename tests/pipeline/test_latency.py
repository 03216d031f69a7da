"""Teacher and student latency timed round by round: a load that comes and goes falls on both,
so the ratio of two equal models stays 1 where back-to-back timing records anything."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.pipeline.eval_stage import cpu_latency_ms
from distill_zoo.pipeline.latency import MAX_DRIFT, MAX_SPREAD, paired_cpu_latency, summarise
from tests.helpers.clocks import FakeClock, use_clock


class Loaded(torch.nn.Module):
    """A model whose call costs ``cost`` ms of the fake clock, 10x while the machine is "loaded"
    (between 20 and 1000 ms of clock time); it records each call's role and thread count."""

    def __init__(self, clock: FakeClock, role: str, calls: list[tuple[str, int]], cost: float = 1.0) -> None:
        super().__init__()
        self.clock, self.role, self.calls, self.cost = clock, role, calls, cost

    def forward(self, input_ids: torch.Tensor) -> None:
        self.calls.append((self.role, torch.get_num_threads()))
        self.clock.advance(self.cost * (10.0 if 20.0 <= self.clock.ms < 1000.0 else 1.0))


def test_rounds_alternate_the_order_and_pin_the_threads(monkeypatch):
    clock, calls = FakeClock(), []
    use_clock(monkeypatch, clock)
    threads = torch.get_num_threads()
    models = {"teacher": Loaded(clock, "teacher", calls), "student": Loaded(clock, "student", calls)}
    paired_cpu_latency(models, [{"input_ids": torch.tensor([[1]])}], runs=3, warmup=1, threads=1)
    assert [role for role, _ in calls] == ["teacher", "student", "student", "teacher"] * 2
    assert {count for _, count in calls} == {1} and torch.get_num_threads() == threads


def test_equal_models_under_a_passing_load_keep_a_ratio_of_one_where_back_to_back_does_not(monkeypatch):
    clock, calls = FakeClock(), []
    use_clock(monkeypatch, clock)
    examples = [{"input_ids": torch.tensor([[1]])}]
    teacher, student = Loaded(clock, "teacher", calls), Loaded(clock, "student", calls)

    back_to_back = [cpu_latency_ms(m, examples, runs=100, warmup=0)["latency_ms_median"] for m in (teacher, student)]
    assert back_to_back[0] / back_to_back[1] == pytest.approx(10.0)  # the load fell on the teacher only

    clock.ms = 0.0
    paired = paired_cpu_latency({"teacher": teacher, "student": student}, examples, runs=100, warmup=0)
    assert paired["teacher"]["latency_ms_median"] / paired["student"]["latency_ms_median"] == pytest.approx(1.0)
    assert paired["teacher"]["latency_unstable"] and paired["student"]["latency_unstable"]  # the load shows


def test_a_steady_clock_is_stable_and_its_figures_are_the_median_and_p90():
    figures = summarise([float(t) for t in [4, 1, 3, 2, 5, 4, 1, 3, 2, 5]], threads=1)
    assert figures["latency_ms_median"] == 3.0 and figures["latency_ms_p90"] == 5.0
    assert figures["latency_spread"] == pytest.approx(5.0 / 3.0)
    assert figures["latency_unstable"] is (5.0 / 3.0 > MAX_SPREAD)


@pytest.mark.parametrize(
    ("timings", "unstable"),
    [
        ([10.0] * 20, False),
        ([10.0] * 10 + [10.0 * (1 + MAX_DRIFT) + 0.5] * 10, True),  # the second half drifted
        ([10.0] * 10 + [10.0 * (1 + MAX_DRIFT) - 0.5] * 10, False),  # within the drift allowed
        ([10.0] * 17 + [10.0 * MAX_SPREAD + 1] * 3, True),  # a slow tail: p90 far above the median
    ],
)
def test_spread_or_drift_flags_the_figure(timings, unstable):
    assert summarise(timings, threads=1)["latency_unstable"] is unstable
