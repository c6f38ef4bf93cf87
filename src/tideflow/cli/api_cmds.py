"""``tide api serve SERVICE`` and ``tide api list``: thin adapters over ``tideflow.serving``.

The lead registers ``api_app`` in ``cli/main.py``. The server binds 127.0.0.1 only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tideflow.cli.context import ProjectOption, guarded, open_project, out

api_app = typer.Typer(name="api", help="API services: serve endpoints over REST (native, Open Inference v2, MLflow).",
                      no_args_is_help=True)


@api_app.command("serve")
@guarded
def serve_cmd(
    service: Annotated[str, typer.Argument(help="API service name (api/<service>.yaml).")],
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1.")] = 8080,
    workers: Annotated[int | None, typer.Option("--workers", "-w", min=1,
                                                help="Worker processes per endpoint version (overrides the "
                                                     "spec; endpoints with workers: 0 stay in-process).")] = None,
    # --- issue 5 (autoscaling): options of the local autoscaled node -------------------------------------
    autoscale: Annotated[bool, typer.Option("--autoscale/--no-autoscale",
                                            help="With an autoscaling: section, run a router and replica "
                                                 "processes that follow load (default); --no-autoscale "
                                                 "serves one process (e.g. one pod under a Kubernetes HPA).")] = True,
    standby: Annotated[int, typer.Option("--standby", min=0, max=16,
                                         help="Warm replicas kept started out of rotation, promoted at "
                                              "once on a scale-up.")] = 1,
    host: Annotated[str, typer.Option("--host", help="Bind address: 127.0.0.1; 0.0.0.0 only inside a "
                                                     "container (the manifests use it).")] = "127.0.0.1",
    # --- end issue 5 ------------------------------------------------------------------------------------
    node: Annotated[Path | None, typer.Option("--node", file_okay=False,
                                              help="Serve the active release on this API node directory "
                                                   "(tide deploy api SERVICE --to DIR) instead of the project.")]
    = None,
    project: ProjectOption = Path("."),
) -> None:
    """Run the API node of SERVICE on 127.0.0.1:PORT until Ctrl-C (in-flight requests finish).

    The node records itself (pid, url) and reloads on SIGHUP: 'tide deploy api' uses that to switch it to
    new model versions without dropping requests."""
    from tideflow.serving.app import serve
    from tideflow.serving.noderecord import record_path
    from tideflow.serving.specs import load_service

    if node is not None:
        from tideflow.automation.deploy_api import node_record, served_root

        root, record = served_root(node, service), node_record(node, service)
    else:
        root = open_project(project).root
        record = record_path(root, service)
    spec = load_service(root.resolve(), service)  # errors before the server starts
    # --- issue 5 (autoscaling): the router, replica processes and the controller ------------------------
    if spec.autoscaling is not None and autoscale:
        from tideflow.serving.router import serve_autoscaled

        a = spec.autoscaling
        out().print(f"serving API service [bold]{spec.name}[/] with autoscaling ({a.min_replicas}-{a.max_replicas} "
                    f"replicas, {a.metric} target {a.target:g}, {standby} standby) on http://127.0.0.1:{port}  "
                    f"(status: /v1/autoscaling, metrics: /metrics)")
        serve_autoscaled(root, service, port=port, standby=standby, record=record)
        return
    # --- end issue 5 ------------------------------------------------------------------------------------
    out().print(f"serving API service [bold]{spec.name}[/] ({len(spec.endpoints)} endpoints) "
                f"on http://127.0.0.1:{port}  (OpenAPI: /openapi.json, metrics: /metrics)")
    serve(root, service, port=port, workers=workers, host=host, record=record)


@api_app.command("list")
@guarded
def list_cmd(project: ProjectOption = Path(".")) -> None:
    """API services of the project and their endpoints."""
    from tideflow.serving.specs import load_service, service_files

    proj = open_project(project)
    table = Table("service", "endpoint", "type", "versions", "workers", "batching")
    for name in service_files(proj.root):
        spec = load_service(proj.root, name)
        for e in spec.endpoints:
            batching = f"{e.batching.max_batch_size} rows / {e.batching.max_wait_ms:g} ms" if e.batching else ""
            table.add_row(name, e.name, e.type, ", ".join(e.version_labels()), str(e.num_workers), batching)
    out().print(table)


# --- issue 5 (autoscaling): tide api status, tide api manifest --------------------------------------------


@api_app.command("status")
@guarded
def status_cmd(
    service: Annotated[str, typer.Argument(help="API service name (api/<service>.yaml).")],
    last: Annotated[int, typer.Option("--last", "-n", min=1, help="Decisions to show.")] = 20,
    project: ProjectOption = Path("."),
) -> None:
    """Replicas and the newest autoscaling decisions of SERVICE (from .tide/autoscaling/SERVICE)."""
    import json
    import time

    from tideflow.autoscaling.controller import read_decisions
    from tideflow.errors import ProjectError
    from tideflow.serving.router import state_dir
    from tideflow.serving.specs import load_service

    proj = open_project(project)
    spec = load_service(proj.root, service)
    folder = state_dir(proj.root, spec.name)
    status_file = folder / "status.json"
    decisions = read_decisions(folder / "decisions.jsonl", last)
    if not status_file.is_file() and not decisions:
        raise ProjectError(f"API service {spec.name!r} has not been served with autoscaling here yet "
                           f"(no {status_file}); run: tide api serve {spec.name}")
    console = out()
    if status_file.is_file():
        st = json.loads(status_file.read_text())
        age = time.time() - float(st.get("updated", 0))
        live = "live" if age < 10 else f"stopped or stale (updated {age:,.0f} s ago)"
        console.print(f"[bold]{spec.name}[/] at {st.get('url')} (pid {st.get('pid')}): {live}")
        console.print(f"replicas: desired {st['desired']}, current {st['current']}, ready {st['ready']}, "
                      f"draining {st['draining']}, standby {st.get('standby', 0)}  "
                      f"(bounds {st['min_replicas']}-{st['max_replicas']}, {st['metric']} target {st['target']:g}"
                      f"{', PANIC' if st.get('panic') else ''})")
        console.print(f"requests: {st['arrivals']:,} accepted, {st['completions']:,} answered, "
                      f"{st['failures']:,} failed at the router; last: {st['last_reason']}")
    table = Table("time", "replicas", "metric", "value", "event", "reason", title="decisions (newest last)")
    for d in decisions:
        table.add_row(time.strftime("%H:%M:%S", time.localtime(d.time)), f"{d.replicas_before} -> {d.replicas_after}",
                      d.metric, f"{d.value:.2f}", d.event or "", d.reason)
    console.print(table)


@api_app.command("manifest")
@guarded
def manifest_cmd(
    service: Annotated[str, typer.Argument(help="API service name (api/<service>.yaml).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the manifests.")] = Path("deploy"),
    image: Annotated[str, typer.Option("--image", help="Container image with the project and tideflow.")] =
        "tideflow-api:latest",
    namespace: Annotated[str | None, typer.Option("--namespace", help="Kubernetes namespace.")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Write a Kubernetes Deployment + Service + HPA (autoscaling/v2) and a Ray Serve config for SERVICE."""
    from tideflow.serving.manifests import write_manifests
    from tideflow.serving.specs import load_service

    proj = open_project(project)
    spec = load_service(proj.root, service)
    for path, note in write_manifests(spec, out_dir, image=image, namespace=namespace):
        out().print(f"wrote {path}" + (f"  ({note})" if note else ""))
