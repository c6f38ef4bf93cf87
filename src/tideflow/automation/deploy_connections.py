"""Production connections of an automation node: resolve, remap, check that each one opens.

The node directory holds its own connections in ``connections.yaml`` (or under ``connections:`` of a
``tideflow.yaml`` there); passwords stay in environment variables or the node's ``secrets.yaml``.
A bundle's connection ``X`` resolves to the node's ``X`` when the node declares it, else to the
bundle's own spec. ``--remap dev=prod`` renames the bundle's connection ``dev`` to ``prod`` (and
every ``connection: dev`` reference of its YAML files), so ``prod`` must resolve on the node.
Relative DuckDB paths and files roots are taken relative to the node directory, so data outlives
any one bundle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from tideflow.errors import ConnectionError_, ProjectError, TideflowError, did_you_mean
from tideflow.project import DEFAULT_CONNECTION, ConnectionSpec, DuckDBConnection, FilesConnection, PostgresConnection
from tideflow.project.yamlfile import KeyPath, loads, read_yaml

NODE_CONNECTIONS = "connections.yaml"
NODE_CONFIG = "tideflow.yaml"
NODE_SECRETS = "secrets.yaml"
_SPEC: TypeAdapter[Any] = TypeAdapter(ConnectionSpec)


class DeployRefused(TideflowError):
    """A deploy (or rollback) was refused before switching; the active bundle is untouched."""


@dataclass(frozen=True)
class ResolvedConnection:
    """A connection of the deployed project: its final name, spec, and where the spec came from."""

    name: str
    spec: DuckDBConnection | PostgresConnection | FilesConnection
    source: str  # "node" or "bundle"
    renamed_from: str | None = None

    def describe(self) -> str:
        """Type and location, never a secret."""
        spec = self.spec
        if isinstance(spec, DuckDBConnection):
            where = f"duckdb {spec.path}"
        elif isinstance(spec, PostgresConnection):
            where = f"postgres {spec.user}@{spec.host}:{spec.port}/{spec.dbname} schema {spec.schema_}"
        else:
            where = f"files {spec.root}"
        origin = f" (remapped from {self.renamed_from!r})" if self.renamed_from else ""
        return f"{where} [{self.source}]{origin}"


def parse_remap(items: list[str]) -> dict[str, str]:
    """``["dev=prod", ...]`` -> ``{"dev": "prod"}``; a malformed or repeated item is an error."""
    remap: dict[str, str] = {}
    for item in items:
        source, sep, target = item.partition("=")
        source, target = source.strip(), target.strip()
        if not sep or not source or not target:
            raise ProjectError(f"invalid --remap {item!r}: expected OLD=NEW, e.g. dev_db=prod_db")
        if source in remap:
            raise ProjectError(f"--remap gives connection {source!r} twice")
        remap[source] = target
    return remap


def node_connections(node_dir: Path) -> dict[str, Any]:
    """The node's own connection specs: ``tideflow.yaml`` (if any), overridden by ``connections.yaml``."""
    found: dict[str, Any] = {}
    for file_name in (NODE_CONFIG, NODE_CONNECTIONS):
        path = node_dir / file_name
        if not path.is_file():
            continue
        data, _lines = read_yaml(path, str(path))
        if isinstance(data, dict) and isinstance(data.get("connections"), dict):
            data = data["connections"]
        elif file_name == NODE_CONFIG:
            continue
        if not isinstance(data, dict):
            raise ProjectError(f"expected a mapping of connection name -> spec, got {type(data).__name__}",
                               file=str(path))
        for name, raw in data.items():
            try:
                found[str(name)] = _SPEC.validate_python(raw)
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ProjectError(f"connection {name!r}: {first['msg']}" + (f" at {where}" if where else ""),
                                   file=str(path)) from None
    return found


def _anchor(spec: Any, node_dir: Path) -> Any:
    """Relative DuckDB paths and files roots -> absolute paths under the node directory.

    The folder of a relative DuckDB file is created (it is the node's own); an absolute one must exist.
    """
    if isinstance(spec, DuckDBConnection) and spec.path != ":memory:" and not Path(spec.path).is_absolute():
        path = (node_dir / spec.path).resolve()
        if path.is_relative_to(node_dir):
            path.parent.mkdir(parents=True, exist_ok=True)
        return spec.model_copy(update={"path": str(path)})
    if isinstance(spec, FilesConnection) and not Path(spec.root).is_absolute():
        return spec.model_copy(update={"root": str((node_dir / spec.root).resolve())})
    return spec


def resolve_connections(bundle_specs: dict[str, Any], remap: dict[str, str],
                        node_dir: Path) -> dict[str, ResolvedConnection]:
    """Final name -> resolved connection; refuses unknown remap sources and names nothing supplies."""
    unknown = [s for s in remap if s not in bundle_specs]
    if unknown:
        raise DeployRefused(
            f"--remap names connection {unknown[0]!r}{did_you_mean(unknown[0], bundle_specs)}, which the bundle "
            f"does not declare (bundle connections: {', '.join(bundle_specs) or 'none'})")
    node = node_connections(node_dir)
    resolved: dict[str, ResolvedConnection] = {}
    for original, bundle_spec in bundle_specs.items():
        name = remap.get(original, original)
        renamed = original if name != original else None
        if name in node:
            spec, source = node[name], "node"
        elif renamed is None:
            spec, source = bundle_spec, "bundle"
        else:
            raise DeployRefused(
                f"connection {name!r} (remapped from {original!r}) is unknown on the node"
                f"{did_you_mean(name, node)}: declare it in {node_dir / NODE_CONNECTIONS} "
                f"(node connections: {', '.join(node) or 'none'})")
        spec = _anchor(spec, node_dir)
        if name in resolved and resolved[name].spec != spec:
            raise DeployRefused(f"two connections map to {name!r} with different specs")
        resolved[name] = ResolvedConnection(name, spec, source, renamed)
    return resolved


def check_opens(conn: ResolvedConnection, project_root: Path) -> None:
    """Open ``conn`` and touch it; raise ``DeployRefused`` naming it (never a secret) when it cannot."""
    spec = conn.spec
    try:
        if isinstance(spec, DuckDBConnection):
            _check_duckdb(conn.name, spec)
        elif isinstance(spec, PostgresConnection):
            _check_postgres(conn.name, spec, project_root)
        elif not Path(spec.root).is_dir():
            raise ConnectionError_(f"connection {conn.name!r}: folder {spec.root} does not exist")
    except DeployRefused:
        raise
    except TideflowError as err:
        raise DeployRefused(f"connection {conn.name!r} cannot be opened: {err}") from None
    except Exception as err:  # a driver error: its type only, the text could hold a DSN
        raise DeployRefused(f"connection {conn.name!r} cannot be opened: {type(err).__name__}") from None


def _check_duckdb(name: str, spec: DuckDBConnection) -> None:
    from tideflow.connections.duck import open_duckdb

    if spec.path == ":memory:":
        return
    path = Path(spec.path)
    if not path.exists():
        if not path.parent.is_dir():
            raise ConnectionError_(f"connection {name!r}: folder {path.parent} of DuckDB file {path.name} "
                                   "does not exist")
        return  # a fresh node: the first build creates the file
    con = open_duckdb(str(path), name, read_only=True)  # waits a while for a build's lock
    try:
        con.execute("SELECT 1").fetchall()
    finally:
        con.close()


def _check_postgres(name: str, spec: PostgresConnection, project_root: Path) -> None:
    from tideflow.connections import PostgresDatabase

    sql = PostgresDatabase(name, spec, project_root).connect()
    try:
        rows = sql.con.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                               (spec.schema_,)).fetchall()
        if not rows:
            raise ConnectionError_(f"connection {name!r}: schema {spec.schema_!r} does not exist in database "
                                   f"{spec.dbname!r}")
    finally:
        sql.close()


# ---------------------------------------------------------------------- rewriting the project files


def materialized_config(config_text: str, resolved: dict[str, ResolvedConnection], remap: dict[str, str]) -> str:
    """``tideflow.yaml`` of the deployed project: production connections, remapped default."""
    data = loads(config_text)
    if not isinstance(data, dict):
        raise DeployRefused("the bundle's tideflow.yaml is not a mapping")
    data["connections"] = {
        name: conn.spec.model_dump(mode="json", by_alias=True, exclude_none=True) for name, conn in resolved.items()
    }
    defaults = data.get("defaults")
    if isinstance(defaults, dict) and isinstance(defaults.get("connection"), str):
        defaults["connection"] = remap.get(defaults["connection"], defaults["connection"])
    elif DEFAULT_CONNECTION in remap:
        data.setdefault("defaults", {})["connection"] = remap[DEFAULT_CONNECTION]
    header = "# Written by 'tide deploy bundle': connections resolved for this node. Do not edit.\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def remap_references(path: Path, shown: str, remap: dict[str, str]) -> bool:
    """Rename ``connection: OLD`` values in one YAML file in place (other bytes unchanged); True if changed."""
    if not remap:
        return False
    data, lines = read_yaml(path, shown)
    hits: list[tuple[int, str]] = []
    _find_connections(data, (), lines, remap, hits)
    if not hits:
        return False
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for line_no, old in hits:
        pattern = re.compile(r"(\bconnection\s*:\s*)(['\"]?)" + re.escape(old) + r"\2(?=\s*(?:#|,|}|$))")
        new = remap[old]

        def swap(match: re.Match[str], new: str = new) -> str:
            return match.group(1) + match.group(2) + new + match.group(2)

        new_line, count = pattern.subn(swap, text[line_no - 1])
        if count != 1:
            raise DeployRefused(f"{shown}:{line_no}: cannot rewrite the connection reference {old!r}")
        text[line_no - 1] = new_line
    path.write_text("".join(text), encoding="utf-8")
    return True


def _find_connections(data: Any, path: KeyPath, lines: dict[KeyPath, int], remap: dict[str, str],
                      hits: list[tuple[int, str]]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            here = (*path, key)
            if key == "connection" and isinstance(value, str) and value in remap and here in lines:
                hits.append((lines[here], value))
            else:
                _find_connections(value, here, lines, remap, hits)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            _find_connections(item, (*path, i), lines, remap, hits)
