"""``tide autoscale replay``: the Rich table, --compare, and errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tideflow.cli.autoscale_cmds import autoscale_app


def test_replay_one_policy() -> None:
    argv = ["replay", "--trace", "spike_10x", "--policy", "hpa", "--decisions", "3"]
    result = CliRunner().invoke(autoscale_app, argv)
    assert result.exit_code == 0, result.output
    assert "spike_10x" in result.output and "hpa" in result.output and "s>SLO" in result.output


def test_replay_compare_with_a_spec(tmp_path: Path) -> None:
    spec = tmp_path / "scale.yaml"
    spec.write_text("autoscaling:\n  max_replicas: 40\n  scale_down_stabilization_s: 120\n")
    trace = tmp_path / "t.csv"
    trace.write_text("time_s,arrival_rate_rps,service_time_s\n0,40,0.05\n300,400,0.05\n600,40,0.05\n900,40,0.05\n")
    result = CliRunner().invoke(autoscale_app, ["replay", "--trace", str(trace), "--compare", "--spec", str(spec),
                                                "--slo-ms", "300"])
    assert result.exit_code == 0, result.output
    for name in ("tideflow", "hpa", "kpa", "static"):
        assert name in result.output
    assert "SLO p99 300 ms" in result.output


def test_errors_exit_2() -> None:
    result = CliRunner().invoke(autoscale_app, ["replay", "--trace", "spike_10x", "--policy", "knative"])
    assert result.exit_code == 2
    result = CliRunner().invoke(autoscale_app, ["replay", "--trace", "nope"])
    assert result.exit_code == 2 and "no trace file or bundled trace named 'nope'" in result.output


def test_traces_lists_the_bundled_ones() -> None:
    result = CliRunner().invoke(autoscale_app, ["traces"])
    assert result.exit_code == 0
    for name in ("spike_10x", "diurnal", "bursty_poisson", "slow_ramp"):
        assert name in result.output
