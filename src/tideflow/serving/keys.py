"""API keys: resolved once at start from env vars or ``.tide/secrets.yaml``; only their hashes are kept.

``check(presented)`` returns the key's name for this service, or raises ``Unauthorized`` (no key, or a
key nobody issued) or ``Forbidden`` (a key of another service of the same project). ``check_admin``
also needs the key to have ``admin: true`` (the admin routes). Values are never logged or shown.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path

from tideflow.connections.base import read_env_secret, read_secret
from tideflow.errors import TideflowError
from tideflow.serving.errors import Forbidden, Unauthorized
from tideflow.serving.specs import ApiKeySpec, ServiceSpec

log = logging.getLogger("tideflow.serving")


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def resolve_key(project_root: Path, service: str, key: ApiKeySpec) -> str:
    where = f"API service {service!r}, key {key.name!r}"
    if key.env is not None:
        return read_env_secret(key.env, connection=where)
    return read_secret(project_root, str(key.secret), connection=where)


class KeyChecker:
    def __init__(self, own: dict[bytes, str], others: dict[bytes, str], *, required: bool,
                 admins: frozenset[str] = frozenset()) -> None:
        self.own = own
        self.others = others
        self.required = required
        self.admins = admins

    @classmethod
    def for_service(cls, project_root: Path, spec: ServiceSpec, others: list[ServiceSpec]) -> KeyChecker:
        """Keys of ``spec`` (each must resolve) and, to answer 403, those of ``others`` that resolve."""
        own = {_digest(resolve_key(project_root, spec.name, k)): k.name for k in spec.api_keys}
        foreign: dict[bytes, str] = {}
        for other in others:
            if other.name == spec.name:
                continue
            for k in other.api_keys:
                try:
                    foreign[_digest(resolve_key(project_root, other.name, k))] = other.name
                except TideflowError:
                    continue
        if not spec.api_keys:
            log.warning("API service %s has no api_keys: every request is accepted", spec.name)
        return cls(own, foreign, required=bool(spec.api_keys),
                   admins=frozenset(k.name for k in spec.api_keys if k.admin))

    def check(self, presented: str | None) -> str | None:
        if not self.required:
            return None
        if not presented:
            raise Unauthorized("this API service needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key'")
        digest = _digest(presented)
        for known, name in self.own.items():
            if hmac.compare_digest(known, digest):
                return name
        if digest in self.others:
            raise Forbidden("this API key belongs to another API service")
        raise Unauthorized("unknown API key")

    def check_admin(self, presented: str | None) -> str | None:
        """``check``, and the key must have ``admin: true`` (a service without keys accepts every request)."""
        name = self.check(presented)
        if self.required and name not in self.admins:
            raise Forbidden(f"API key {name!r} may not call admin routes: they need a key with 'admin: true' "
                            "in the service file")
        return name


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None
