"""Bundled traces are the generators' output; trace files are validated with located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.autoscaling import BUNDLED, load_trace, parse_trace
from tideflow.autoscaling.traces import GENERATORS
from tideflow.errors import ProjectError


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_file_equals_its_generator(name: str) -> None:
    stored = load_trace(name)
    made = GENERATORS[name]()
    assert stored.arrival_rps == made.arrival_rps and stored.time_s == made.time_s
    assert stored.description


def test_shapes() -> None:
    spike = load_trace("spike_10x")
    before = sum(spike.arrival_rps[0:600]) / 600
    during = sum(spike.arrival_rps[600:1200]) / 600
    assert 9 < during / before < 11
    diurnal = load_trace("diurnal")
    assert 0.4 < (sum(diurnal.arrival_rps) / len(diurnal.arrival_rps)) / diurnal.peak_rps() < 0.55


def test_load_a_file_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "mine.csv"
    good.write_text("time_s,arrival_rate_rps,service_time_s\n0,10,0.02\n5,20,0.02\n")
    trace = load_trace(good)
    assert trace.name == "mine" and trace.duration_s == 10
    with pytest.raises(ProjectError, match=r"bad.csv:1: expected the header time_s,arrival_rate_rps,service_time_s"):
        parse_trace("t,rate\n", name="bad", shown="bad.csv")
    with pytest.raises(ProjectError, match=r"bad.csv:3: time_s: expected > 5 \(increasing\), got 2"):
        parse_trace("time_s,arrival_rate_rps,service_time_s\n5,1,0.1\n2,1,0.1\n", name="bad", shown="bad.csv")
    with pytest.raises(ProjectError, match=r"bad.csv:2: service_time_s: expected > 0, got 0"):
        parse_trace("time_s,arrival_rate_rps,service_time_s\n0,1,0\n", name="bad", shown="bad.csv")
    with pytest.raises(ProjectError, match=r"no trace .* named 'spike10x': did you mean 'spike_10x'"):
        load_trace("spike10x")
