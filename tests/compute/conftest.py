"""One local Ray runtime (2 CPUs, no dashboard, loopback) for every compute test, shut down at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tideflow.compute import Runtime, open_runtime
from tideflow.compute._ray import RAY_ENV, enable_token_auth_if_configured
from tideflow.project import ComputeSpec

# Before any test module imports ray: Ray reads these (and its token-auth mode) once, at import.
for _key, _value in RAY_ENV.items():
    os.environ.setdefault(_key, _value)
enable_token_auth_if_configured()


@pytest.fixture(scope="session")
def runtime() -> Iterator[Runtime]:
    with open_runtime(ComputeSpec(num_cpus=2)) as rt:
        yield rt
