"""``tide platform serve``: the platform REST API (``tideflow.api``) on 127.0.0.1.

The lead registers ``platform_app`` in ``cli/main.py`` (``app.add_typer(platform_app, name="platform")``).
Keys come from ``TIDE_PLATFORM_KEYS`` (comma-separated); they are never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tideflow.cli.context import ProjectOption, guarded, out

platform_app = typer.Typer(name="platform", help="The platform REST API: everything the CLI does, over HTTP.",
                           no_args_is_help=True)


@platform_app.command("serve")
@guarded
def serve_cmd(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1.")] = 8700,
    project: ProjectOption = Path("."),
) -> None:
    """Serve the platform REST API of the project on 127.0.0.1:PORT until Ctrl-C (keys: env TIDE_PLATFORM_KEYS)."""
    try:
        import uvicorn

        from tideflow.api import KEYS_ENV, create_app, keys_from_env
    except ImportError as missing:  # fastapi / uvicorn are optional
        from tideflow.errors import MissingExtraError

        raise MissingExtraError(missing.name or "fastapi", "platform") from None
    keys = keys_from_env()
    app = create_app(project, api_keys=keys)  # a bad project or no keys fails before the server starts
    out().print(f"serving the platform API of [bold]{project.resolve().name}[/] on http://127.0.0.1:{port}  "
                f"({len(keys)} key(s) from {KEYS_ENV}; web UI: /ui/, OpenAPI: /openapi.json, docs: /docs)")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info", access_log=True)
