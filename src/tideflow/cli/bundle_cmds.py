"""``tide bundle ...`` and ``tide deploy ...``: thin adapters over ``tideflow.automation``.

The lead registers ``bundle_app`` (name ``bundle``) and ``deploy_app`` (name ``deploy``) in ``cli/main.py``.
A refused deploy exits with 4 (the active bundle is untouched); other errors use the usual codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tideflow.cli.context import ProjectOption, fail, guarded, human_bytes, open_project, out

EXIT_REFUSED = 4

bundle_app = typer.Typer(name="bundle", help="Bundles: immutable snapshots of the project, ready to deploy.",
                         no_args_is_help=True)
deploy_app = typer.Typer(name="deploy", help="Deploy bundles on an automation node directory; roll back.",
                         no_args_is_help=True)

NodeOption = Annotated[Path, typer.Option("--to", help="The automation node directory.", file_okay=False)]


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
def rollback_cmd(to: NodeOption) -> None:
    """Re-activate the bundle that was active before the current one."""
    from tideflow.automation.deploy import DeployRefused, rollback

    try:
        deployment = rollback(to)
    except DeployRefused as error:
        raise fail(f"{error} (the active bundle is unchanged)", EXIT_REFUSED) from None
    out().print(f"rolled back to [bold]{deployment.bundle}[/] ({deployment.id}) on {to.resolve()}")


@deploy_app.command("status")
@guarded
def status_cmd(to: NodeOption) -> None:
    """The active bundle of the node, its integrity, and recent deployments."""
    from tideflow.automation.deploy import node_status

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
