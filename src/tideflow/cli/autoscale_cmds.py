"""``tide autoscale replay | traces``: run autoscaling policies against load traces.

A thin adapter over ``tideflow.autoscaling.replay``. Errors print ``error: <message>`` on stderr
with exit code 2 (see ``tideflow.cli.context``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from tideflow.autoscaling import (
    BUNDLED,
    AutoscalingSpec,
    ReplayReport,
    SimConfig,
    load_autoscaling_spec,
    load_trace,
    policy_by_name,
    replay,
)
from tideflow.cli.context import guarded, out

autoscale_app = typer.Typer(name="autoscale", help="Autoscaling: replay policies against load traces.",
                            no_args_is_help=True)

POLICIES = ("tideflow", "hpa", "kpa", "static")
REPLAY_MAX_REPLICAS = 50  # without --spec: the defaults, with room for the bundled traces' peaks


def report_table(reports: list[ReplayReport], *, title: str) -> Table:
    """One row per policy: cost (replica-seconds), latency, SLO, stability, drops; ratios vs the first row."""
    table = Table(title=title, box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, padding=(0, 1))
    for name, justify in (("policy", "left"), ("replica-s", "right"), ("ratio", "right"), ("mean", "right"),
                          ("max", "right"), ("p99 ms", "right"), ("s>SLO", "right"), ("%>SLO", "right"),
                          ("rev", "right"), ("rev/h", "right"), ("dropped", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.caption = (f"ratio: replica-seconds vs {reports[0].policy}; s>SLO: seconds whose p99 is over the SLO; "
                     "rev: direction reversals")
    base = reports[0].replica_seconds or 1.0
    for r in reports:
        table.add_row(r.policy, f"{r.replica_seconds:,.0f}", f"{r.replica_seconds / base:.2f}x",
                      f"{r.mean_replicas:.1f}", str(r.max_replicas), f"{r.p99_s * 1000:,.0f}",
                      f"{r.seconds_over_slo:,.0f}", f"{r.fraction_over_slo:.1%}", str(r.reversals),
                      f"{r.reversals_per_hour:.1f}", f"{r.dropped:,.0f}")
    return table


def decisions_table(report: ReplayReport, limit: int) -> Table:
    table = Table(title=f"{report.policy}: decisions (first {limit})", box=box.SIMPLE_HEAD, header_style="bold",
                  pad_edge=False, padding=(0, 1))
    for name in ("t s", "replicas", "event", "reason"):
        table.add_column(name)
    for d in report.decisions[:limit]:
        table.add_row(f"{d.time_s:,.0f}", f"{d.replicas_before} -> {d.replicas_after}", d.event or "", d.reason)
    return table


@autoscale_app.command("replay")
@guarded
def replay_cmd(
    trace: Annotated[str, typer.Option("--trace", "-t", help=f"A CSV file or a bundled trace: {', '.join(BUNDLED)}.")],
    policy: Annotated[str, typer.Option("--policy", help="tideflow | hpa | kpa | static.")] = "tideflow",
    spec: Annotated[Path | None, typer.Option("--spec", exists=True, dir_okay=False,
                                              help="YAML with an autoscaling: section (default: the defaults "
                                                   f"with max_replicas {REPLAY_MAX_REPLICAS}).")] = None,
    slo_ms: Annotated[float, typer.Option("--slo-ms", min=1, help="p99 latency objective.")] = 500.0,
    startup_s: Annotated[float, typer.Option("--startup-s", min=0, help="Seconds for a new replica to serve.")] = 3.0,
    compare: Annotated[bool, typer.Option("--compare", help="Run all four policies side by side.")] = False,
    decisions: Annotated[int, typer.Option("--decisions", min=0, help="Show the first N decisions.")] = 0,
) -> None:
    """Replay a load trace through a queueing model of the service under a policy."""
    from tideflow.errors import ProjectError, did_you_mean

    if not compare and policy not in POLICIES:
        raise ProjectError(f"--policy: expected one of {', '.join(POLICIES)}, got {policy!r}"
                           f"{did_you_mean(policy, POLICIES)}")
    the_spec = load_autoscaling_spec(spec) if spec else AutoscalingSpec(max_replicas=REPLAY_MAX_REPLICAS)
    the_trace = load_trace(trace)
    config = SimConfig(slo_s=slo_ms / 1000.0, startup_s=startup_s)
    names = list(POLICIES) if compare else [policy]
    reports = [replay(the_trace, policy_by_name(n, the_spec, the_trace, config), config) for n in names]
    console = out()
    console.width = max(console.width, 120)  # the comparison is a wide table; never squeeze its numbers
    title = (f"{the_trace.name}: {the_trace.duration_s:,.0f} s, {sum(r for r in the_trace.arrival_rps):,.0f} requests,"
             f" SLO p99 {slo_ms:g} ms, replica start {startup_s:g} s")
    console.print(report_table(reports, title=title))
    if decisions:
        for r in reports:
            console.print(decisions_table(r, decisions))


@autoscale_app.command("traces")
@guarded
def traces_cmd() -> None:
    """List the bundled traces."""
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, padding=(0, 1))
    for name, justify in (("trace", "left"), ("seconds", "right"), ("mean rps", "right"), ("peak rps", "right"),
                          ("description", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name in BUNDLED:
        t = load_trace(name)
        table.add_row(name, f"{t.duration_s:,.0f}", f"{sum(t.arrival_rps) / len(t.arrival_rps):,.0f}",
                      f"{t.peak_rps():,.0f}", t.description)
    out().print(table)
