"""What the routes share: the project root, the loaded project, and JSON conversion of values.

The project is loaded on each request (``load_project`` reads a few small files), so the API always
shows what is on disk, like the CLI does.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request

from tideflow.api.builds import BuildManager
from tideflow.project import Project, load_project


@dataclass
class Platform:
    """The state of one app: one project directory and the jobs started through this app."""

    root: Path
    builds: BuildManager
    jobs: list[threading.Thread] = field(default_factory=list)  # scenario runs started here

    def project(self) -> Project:
        return load_project(self.root)


def platform(request: Request) -> Platform:
    """The dependency every route uses to reach the app's ``Platform``."""
    found: Platform = request.app.state.platform
    return found


def project(request: Request) -> Project:
    """The dependency that loads the project (a bad project file answers 400 with its location)."""
    return platform(request).project()


def jsonable(value: Any) -> Any:
    """``value`` as strict JSON: NaN/inf -> null, dates -> ISO text, Decimal -> float, bytes -> base64."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return jsonable(float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "value") and hasattr(value, "count") and not callable(value.count):  # checks.TopValue
        return {"value": jsonable(value.value), "count": jsonable(value.count)}
    if hasattr(value, "item"):  # numpy scalars
        return jsonable(value.item())
    return str(value)


def finite(value: float | None) -> float | None:
    """A float for a typed field: NaN and infinities (not JSON) become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
