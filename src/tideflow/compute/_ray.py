"""The one place Ray is imported (lazily, so that ``import tideflow.compute`` works without the extra)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

from tideflow.errors import MissingExtraError

#: Loopback only, no usage stats: set before any Ray process starts (children inherit them).
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def import_ray() -> ModuleType:
    """``ray``, or ``MissingExtraError`` with the install command."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    enable_token_auth_if_configured()
    try:
        import ray
    except ImportError as error:  # pragma: no cover - the dev install has ray
        raise MissingExtraError("ray", "ray") from error
    return ray


def keep_on_loopback(ray: ModuleType) -> None:
    """Make a local runtime bind to 127.0.0.1 even when ``ray`` was imported before ``RAY_ENV`` was set
    (Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` once, at import)."""
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is not None and os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0":
        constants.ENABLE_RAY_CLUSTER = False


def enable_token_auth_if_configured() -> None:
    """Ray 2.60 turns token auth on when ``~/.ray/auth_token`` (or ``$RAY_AUTH_TOKEN``) exists, but a bare
    GCS client only sends the token when ``RAY_AUTH_MODE=token``: set it then (never otherwise)."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or Path(token_path).is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
        # Ray caches the mode at import: a token file that appeared since (another process's first
        # ``ray.init`` writes it) would leave this client without the token its new GCS requires.
        raylet = sys.modules.get("ray._raylet")
        if raylet is not None:
            raylet.Config.initialize("")
