"""``tide cluster up --local | down | status | manifest``: the project's ``compute.cluster`` section."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tideflow.cli.context import ProjectOption, default_project_dir, fail, guarded, open_project, out
from tideflow.compute import LocalCluster, manifest_yaml, start_local_cluster
from tideflow.errors import ProjectError
from tideflow.project import ClusterSpec, Project

cluster_app = typer.Typer(name="cluster", help="Start a local autoscaling cluster or write a KubeRay manifest.",
                          no_args_is_help=True)


def _cluster_spec(project: Project) -> ClusterSpec:
    spec = project.config.compute.cluster
    if spec is None:
        raise ProjectError("no compute.cluster section: declare node_types (see docs/compute.md)",
                           file="tideflow.yaml", key_path="compute.cluster")
    return spec


def _workdir(project: Project) -> Path:
    return project.state_dir / "cluster"


@cluster_app.command("up")
@guarded
def up(
    local: Annotated[bool, typer.Option("--local", help="Start the cluster on this machine (extra nodes are "
                                        "local processes).")] = False,
    project_dir: ProjectOption = Path("."),
) -> None:
    """Start an autoscaling cluster from compute.cluster and print its address."""
    if not local:
        raise fail("only --local is supported here; for Kubernetes run 'tide cluster manifest' and "
                   "'kubectl apply -f' the result", 2)
    project = open_project(project_dir or default_project_dir())
    spec = _cluster_spec(project)
    workdir = _workdir(project)
    running = LocalCluster.load(workdir)
    if running is not None and running.alive():
        out().print(f"A local cluster is already running at [bold]{running.address}[/] (pid {running.pid}).")
        return
    cluster = start_local_cluster(spec, workdir)
    console = out()
    console.print(f"Local cluster up at [bold]{cluster.address}[/] (pid {cluster.pid}); "
                  f"{len(spec.node_types)} node types, idle timeout {spec.idle_timeout_s:g} s.")
    console.print(f"Use it: export TIDE_RAY_ADDRESS={cluster.address}   Stop it: tide cluster down")


@cluster_app.command("down")
@guarded
def down(project_dir: ProjectOption = Path(".")) -> None:
    """Stop the local cluster started by 'tide cluster up --local' (its own processes only)."""
    project = open_project(project_dir or default_project_dir())
    cluster = LocalCluster.load(_workdir(project))
    if cluster is None:
        out().print("No local cluster is running.")
        return
    cluster.stop()
    out().print(f"Stopped the local cluster at {cluster.address}.")


@cluster_app.command("status")
@guarded
def status(project_dir: ProjectOption = Path(".")) -> None:
    """The nodes of the local cluster: type and resources."""
    project = open_project(project_dir or default_project_dir())
    cluster = LocalCluster.load(_workdir(project))
    if cluster is None or not cluster.alive():
        out().print("No local cluster is running.")
        return
    table = Table(title=f"cluster at {cluster.address}")
    for column in ("node", "type", "cpu", "gpu", "memory GB"):
        table.add_column(column)
    for node in cluster.nodes():
        r = node.resources
        table.add_row(node.node_id[-8:], node.node_type + (" (head)" if node.is_head else ""),
                      f"{r.get('CPU', 0):g}", f"{r.get('GPU', 0):g}", f"{r.get('memory', 0) / 1e9:.1f}")
    out().print(table)


@cluster_app.command("manifest")
@guarded
def manifest(
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write the YAML here (default: stdout).",
                                                  dir_okay=False)] = None,
    name: Annotated[str | None, typer.Option("--name", help="RayCluster name (default: the project name).")] = None,
    project_dir: ProjectOption = Path("."),
) -> None:
    """Write a KubeRay RayCluster (autoscaler enabled, one worker group per node type) as YAML."""
    project = open_project(project_dir or default_project_dir())
    spec = _cluster_spec(project)
    cluster_name = name or getattr(project.config, "name", None) or project.root.name
    text = manifest_yaml(spec, str(cluster_name))
    if out_file is None:
        typer.echo(text, nl=False)
        return
    out_file.write_text(text)
    out().print(f"Wrote {out_file} (kubectl apply -f {out_file}).")
