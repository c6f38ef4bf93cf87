"""Schemathesis against the app's own OpenAPI schema: generated requests (valid and invalid) to every
operation, sent over HTTP to the app in uvicorn on 127.0.0.1; no 5xx, and every response matches the
schema it documents (status code, content type, body).

The schema is the app's own ``/openapi.json``: it does not depend on the project's content, so it is
read at collection from an app over a throwaway starter project; the requests go to the ``served``
app over the real test project. ``POST /builds`` is left out of the fuzzing (each valid request
starts a real build in the background); ``test_routes.py`` covers it end to end.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from tests.api.conftest import KEY, Served


def _openapi() -> dict[str, Any]:
    from tideflow.api import create_app
    from tideflow.cli.init_cmd import scaffold

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "starter"
        scaffold(root, "starter")
        document: dict[str, Any] = create_app(root, api_keys=["collection"]).openapi()
    return document


schema = schemathesis.openapi.from_dict(_openapi())
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@schema.exclude(method="POST", path="/builds").parametrize()
@FUZZ
def test_api_conforms_to_its_openapi_schema(case: Any, served: Served) -> None:
    case.call_and_validate(base_url=served.url, headers={"X-API-Key": KEY})

