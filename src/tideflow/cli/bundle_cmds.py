"""``tide bundle ...`` and ``tide deploy ...``: thin adapters over ``tideflow.automation``.

The lead registers ``bundle_app`` (name ``bundle``) and ``deploy_app`` (name ``deploy``) in ``cli/main.py``.
A refused deploy exits with 4 (the active bundle or release is untouched); other errors use the usual codes.
``tide deploy api SERVICE`` deploys an API service (to an API node directory, the project's own running
API node, or as manifests); ``rollback`` and ``status`` take ``--api SERVICE`` for its releases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tideflow.cli.context import ProjectOption, fail, guarded, human_bytes, open_project, out

EXIT_REFUSED = 4

bundle_app = typer.Typer(name="bundle", help="Bundles: immutable snapshots of the project, ready to deploy.",
                         no_args_is_help=True)
deploy_app = typer.Typer(name="deploy", help="Deploy bundles on an automation node directory; roll back.",
                         no_args_is_help=True)

NodeOption = Annotated[Path, typer.Option("--to", help="The automation (or API) node directory.", file_okay=False)]
ApiOption = Annotated[str | None, typer.Option("--api", help="An API service: its releases on the node, not the "
                                                             "bundle's.")]


@bundle_app.command("create")
@guarded
def create_cmd(
    name: Annotated[str, typer.Argument(help="Bundle name, e.g. v1.4 (bundles are immutable).")],
    notes: Annotated[str, typer.Option("--notes", help="Release notes (text).")] = "",
    with_data: Annotated[bool, typer.Option("--with-data", help="Export stored datasets as Parquet.")] = False,
    archive: Annotated[bool, typer.Option("--archive", help="Write NAME.tar.gz instead of a directory.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Snapshot the project (specs, code, scenarios, saved models it uses) under .tide/bundles/NAME."""
    from tideflow.automation.bundles import create_bundle

    info = create_bundle(open_project(project), name, notes=notes, with_data=with_data, archive=archive)
    m = info.manifest
    size = sum(f.size for f in m.files)
    out().print(f"bundle [bold]{m.name}[/] ({m.digest}): {len(m.files)} files, {human_bytes(size)}, "
                f"{len(m.models)} saved-model versions, {len(m.data)} datasets -> {info.path}")


@bundle_app.command("list")
@guarded
def list_cmd(project: ProjectOption = Path(".")) -> None:
    """Bundles of the project."""
    from tideflow.automation.bundles import list_bundles

    table = Table("bundle", "digest", "created", "files", "models", "data", "git", "notes")
    for info in list_bundles(open_project(project)):
        m = info.manifest
        table.add_row(m.name, m.digest, m.created_at[:19], str(len(m.files)), str(len(m.models)), str(len(m.data)),
                      (m.git_commit or "")[:10] + ("+" if m.git_dirty else ""), m.notes.splitlines()[0] if m.notes
                      else "")
    out().print(table)


@bundle_app.command("verify")
@guarded
def verify_cmd(name: Annotated[str, typer.Argument(help="Bundle name or path.")],
               project: ProjectOption = Path(".")) -> None:
    """Check every file of a bundle against its manifest."""
    from tideflow.automation.bundles import find_bundle, unpacked, verify_bundle

    path = find_bundle(name, open_project(project) if (project / "tideflow.yaml").is_file() else None)
    with unpacked(path) as folder:
        manifest = verify_bundle(folder)
    out().print(f"bundle {manifest.name} ({manifest.digest}): {len(manifest.files)} files intact")


@deploy_app.command("bundle")
@guarded
def deploy_cmd(
    name: Annotated[str, typer.Argument(help="Bundle name (in .tide/bundles/) or path to a bundle dir / .tar.gz.")],
    to: NodeOption,
    remap: Annotated[list[str] | None, typer.Option("--remap", help="OLD=NEW: rename a connection (repeatable).")]
    = None,
    load_data: Annotated[bool, typer.Option("--load-data", help="Write bundled source datasets missing on the "
                                                                 "node.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Verify the bundle and its connections on the node, then activate it atomically."""
    from tideflow.automation.bundles import find_bundle
    from tideflow.automation.deploy import DeployRefused, deploy_bundle
    from tideflow.automation.deploy_connections import parse_remap

    source = find_bundle(name, open_project(project) if (project / "tideflow.yaml").is_file() else None)
    try:
        deployment = deploy_bundle(source, to, remap=parse_remap(remap or []), load_data=load_data)
    except DeployRefused as error:
        raise fail(f"{error} (the active bundle is unchanged)", EXIT_REFUSED) from None
    out().print(f"deployed [bold]{deployment.bundle}[/] as {deployment.id} on {to.resolve()}"
                + (f" (previous: {deployment.previous})" if deployment.previous else ""))
    for conn, where in deployment.connections.items():
        out().print(f"  {conn}: {where}")
    if deployment.loaded_data:
        out().print(f"  loaded datasets: {', '.join(deployment.loaded_data)}")
    out().print(f"  project: {to.resolve() / 'active' / 'project'}")


@deploy_app.command("rollback")
@guarded
def rollback_cmd(to: NodeOption, api: ApiOption = None) -> None:
    """Re-activate the bundle (or, with --api, the API release) that was active before the current one."""
    from tideflow.automation.deploy import DeployRefused, rollback

    if api is not None:
        from tideflow.automation.deploy_api import rollback_api

        try:
            release = rollback_api(to, api)
        except DeployRefused as error:
            raise fail(f"{error} (the active release is unchanged)", EXIT_REFUSED) from None
        out().print(f"rolled back API service [bold]{api}[/] to {release.id} on {to.resolve()}: "
                    f"{', '.join(release.serves)}")
        out().print(f"  {escape(release.reload)}")
        return
    try:
        deployment = rollback(to)
    except DeployRefused as error:
        raise fail(f"{error} (the active bundle is unchanged)", EXIT_REFUSED) from None
    out().print(f"rolled back to [bold]{deployment.bundle}[/] ({deployment.id}) on {to.resolve()}")


@deploy_app.command("status")
@guarded
def status_cmd(to: NodeOption, api: ApiOption = None) -> None:
    """The active bundle (or, with --api, API release) of the node, its integrity, and recent deployments."""
    from tideflow.automation.deploy import node_status

    if api is not None:
        _api_status(to, api)
        return
    status = node_status(to)
    if status.active is None:
        out().print(f"{status.node_dir}: no active bundle")
    else:
        d = status.active
        out().print(f"active: [bold]{d.bundle}[/] ({d.id}, digest {d.digest}) deployed {d.deployed_at[:19]}")
        out().print(f"integrity: {status.integrity}")
        for conn, where in d.connections.items():
            out().print(f"  {conn}: {where}")
    table = Table("at", "action", "deployment", "bundle", "detail")
    for entry in status.history:
        detail = entry.get("reason") or ", ".join(f"{k}={v}" for k, v in (entry.get("remap") or {}).items())
        table.add_row(str(entry.get("at", ""))[:19], str(entry.get("action", "")), str(entry.get("deployment", "")),
                      str(entry.get("bundle", "")), detail)
    out().print(table)


def _api_status(to: Path, service: str) -> None:
    from tideflow.automation.deploy_api import api_status

    status = api_status(to, service)
    console = out()
    if status.active is None:
        console.print(f"{status.node_dir}: no active release of API service {service}")
    else:
        d = status.active
        console.print(f"active: [bold]{service}[/] {d.id} deployed {d.deployed_at[:19]} from {d.source}")
        console.print(f"serves: {', '.join(d.serves)}")
        console.print(f"integrity: {status.integrity}")
        for conn, where in d.connections.items():
            console.print(f"  {conn}: {escape(where)}")
    node = status.node
    if node is None:
        console.print("API node: not running (serve it: tide api serve "
                      f"{service} --node {status.node_dir})")
    else:
        release = Path(str(node.get("release", ""))).parent.name
        reload = node.get("reload") or {}
        console.print(escape(f"API node: pid {node.get('pid')} at {node.get('url')} ({node.get('mode')}), serving "
                             f"{release}, generation {node.get('generation')}; last reload: {reload.get('state')} "
                             f"{reload.get('message')}"))
    table = Table("at", "action", "release", "detail")
    for entry in status.history:
        detail = entry.get("reason") or ", ".join(entry.get("serves") or []) or \
            ", ".join(f"{k}={v}" for k, v in (entry.get("remap") or {}).items())
        table.add_row(str(entry.get("at", ""))[:19], str(entry.get("action", "")), str(entry.get("deployment", "")),
                      detail)
    console.print(table)


@deploy_app.command("api")
@guarded
def deploy_api_cmd(
    service: Annotated[str, typer.Argument(help="API service name (api/<service>.yaml).")],
    to: Annotated[Path | None, typer.Option("--to", file_okay=False, help="An API node directory: package the "
                                            "service and activate it there.")] = None,
    manifests: Annotated[Path | None, typer.Option("--manifests", file_okay=False, help="Write the package, the "
                                                   "servable project and Kubernetes / Ray Serve manifests here "
                                                   "instead.")] = None,
    remap: Annotated[list[str] | None, typer.Option("--remap", help="OLD=NEW: rename a connection (repeatable, "
                                                                    "with --to).")] = None,
    bundle: Annotated[str | None, typer.Option("--bundle", help="Take the service and its saved models from this "
                                                                "bundle (name or path) instead of the project.")]
    = None,
    reload: Annotated[bool, typer.Option("--reload/--no-reload", help="Ask the running API node to load the new "
                                                                      "release (default).")] = True,
    timeout_s: Annotated[float, typer.Option("--timeout", min=1, help="Seconds to wait for the API node to "
                                                                      "reload.")] = 300.0,
    image: Annotated[str, typer.Option("--image", help="With --manifests: the container image.")] =
        "tideflow-api:latest",
    namespace: Annotated[str | None, typer.Option("--namespace", help="With --manifests: Kubernetes namespace.")]
    = None,
    project: ProjectOption = Path("."),
) -> None:
    """Deploy an API service: to an API node directory (--to), as manifests (--manifests), or, with neither,
    reload the API node serving this project."""
    import contextlib

    from tideflow.automation.api_package import bundle_source, project_source
    from tideflow.automation.bundles import find_bundle, unpacked
    from tideflow.automation.deploy import DeployRefused
    from tideflow.automation.deploy_api import deploy_api, refresh_project_node, write_api_manifests
    from tideflow.automation.deploy_connections import parse_remap
    from tideflow.errors import ProjectError

    if to is not None and manifests is not None:
        raise ProjectError("give --to DIR (an API node) or --manifests DIR, not both")
    if remap and to is None:
        raise ProjectError("--remap renames connections on an API node: it needs --to DIR")
    console = out()
    with contextlib.ExitStack() as stack:
        proj = open_project(project) if (project / "tideflow.yaml").is_file() or bundle is None else None
        if bundle is not None:
            folder = stack.enter_context(unpacked(find_bundle(bundle, proj)))
            source = bundle_source(folder)
        elif proj is not None:
            source = project_source(proj)
        try:
            if to is not None:
                release = deploy_api(source, service, to, remap=parse_remap(remap or []), reload=reload,
                                     reload_timeout_s=timeout_s)
                verb = "already active" if release.unchanged else "deployed"
                console.print(f"{verb}: API service [bold]{service}[/] {release.id} on {to.resolve()}"
                              + (f" (previous: {release.previous})" if release.previous and not release.unchanged
                                 else ""))
                console.print(f"  serves: {', '.join(release.serves)}")
                for conn, where in release.connections.items():
                    console.print(f"  {conn}: {escape(where)}")
                console.print(f"  {release.reload}")
            elif manifests is not None:
                for path, note in write_api_manifests(source, service, manifests, image=image, namespace=namespace):
                    console.print(f"wrote {path}" + (f"  ({note})" if note else ""))
            else:
                if bundle is not None or proj is None:
                    raise ProjectError("reloading the API node of this project needs the project (no --bundle): "
                                       "or give --to DIR")
                serves, outcome = refresh_project_node(proj, service, timeout_s=timeout_s)
                console.print(f"reloaded API service [bold]{service}[/] (pid {outcome.info.get('pid')}, "
                              f"{outcome.info.get('url')}): {', '.join(serves)}")
        except DeployRefused as error:
            kept = "the active release is unchanged" if to is not None or manifests is not None else \
                "nothing was reloaded"
            raise fail(f"{error} ({kept})", EXIT_REFUSED) from None
