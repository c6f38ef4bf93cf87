"""The deployer: remapped connections build against the remapped database; refusals keep the active bundle."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tideflow.automation.bundles import create_bundle
from tideflow.automation.deploy import DeployRefused, deploy_bundle, history, node_status, rollback
from tideflow.automation.deploy_connections import parse_remap
from tideflow.cli.bundle_cmds import bundle_app, deploy_app
from tideflow.errors import ProjectError
from tideflow.flow import build
from tideflow.models import Registry
from tideflow.project import load_project

_spec = importlib.util.spec_from_file_location("tide_bundle_support_d", Path(__file__).with_name(
    "test_bundle_support.py"))
assert _spec is not None and _spec.loader is not None
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    return S.write_shop(tmp_path / "shop")


@pytest.fixture()
def node(tmp_path: Path) -> Path:
    """An automation node whose production DuckDB holds other orders than dev."""
    root = tmp_path / "node"
    (root / "data").mkdir(parents=True)
    (root / "connections.yaml").write_text("connections:\n  prod_db:\n    type: duckdb\n    path: data/prod.duckdb\n")
    S.seed_orders(root / "data" / "prod.duckdb", S.PROD_ROWS)
    return root


def _bundle(shop: Path, name: str) -> Path:
    return create_bundle(load_project(shop), name).path


def _build(project_dir: Path) -> None:
    result = build(load_project(project_dir))
    assert result.ok, [(r.recipe, r.error) for r in result.failed]


def test_deployed_bundle_builds_against_the_remapped_duckdb(shop: Path, node: Path) -> None:
    deployment = deploy_bundle(_bundle(shop, "v1"), node, remap={"dev_db": "prod_db"})
    assert deployment.id == "0001-v1" and deployment.previous is None
    assert os.readlink(node / "active") == "bundles/0001-v1"
    project_dir = node / "active" / "project"
    # references renamed in place, comments kept; the received bundle stays byte-identical
    assert (project_dir / "datasets" / "orders.yaml").read_text() == (
        "description: raw orders\nconnection: prod_db  # the source table\ntable: orders\n")
    assert "connection: dev_db" in (node / "active" / "bundle" / "project" / "datasets" / "orders.yaml").read_text()
    assert "{sql: 'SELECT 1', connection: prod_db}" in (project_dir / "scenarios" / "nightly.yaml").read_text()
    project = load_project(project_dir)
    assert set(project.config.connections) == {"prod_db"}
    assert project.config.defaults.connection == "prod_db"
    assert build(project).ok
    prod = node / "data" / "prod.duckdb"
    assert sorted(S.duck(prod, "SELECT country, total FROM revenue")) == [("de", 1.0), ("fr", 100.0), ("us", 75.0)]
    assert sorted(S.duck(prod, "SELECT country FROM top_countries")) == [("fr",), ("us",)]
    assert S.duck(shop / "dev.duckdb", "SELECT count(*) FROM information_schema.tables WHERE table_name = "
                                       "'revenue'") == [(0,)]
    assert "data/prod.duckdb [node] (remapped from 'dev_db')" in deployment.connections["prod_db"]


def test_saved_model_versions_are_installed_on_the_node(shop: Path, node: Path) -> None:
    deploy_bundle(_bundle(shop, "v1"), node, remap={"dev_db": "prod_db"})
    with Registry(node / "active" / "project" / ".tide") as registry:
        assert registry.get("fraud").version == 2
        assert [v.version for v in registry.list("fraud")] == [1, 2]
        assert registry.load_pipeline("fraud") == {"weights": [2]}
        assert registry.names() == ["fraud"]


def test_deploy_to_a_postgres_schema(shop: Path, node: Path, pg_conn: object, pg_schema: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pg_conn.execute(f'CREATE TABLE "{pg_schema}".orders (country TEXT, amount DOUBLE PRECISION)')  # type: ignore[attr-defined]
    with pg_conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.executemany(f'INSERT INTO "{pg_schema}".orders VALUES (%s, %s)', S.PROD_ROWS)
    (node / "connections.yaml").write_text(
        f"connections:\n  pg_prod:\n    type: postgres\n    dbname: test\n    user: postgres\n"
        f"    schema: {pg_schema}\n    password_secret: pg_password\n")
    (node / "secrets.yaml").write_text(f"pg_password: {S.SECRET}\n")
    deployment = deploy_bundle(_bundle(shop, "v1"), node, remap={"dev_db": "pg_prod"})
    assert deployment.connections["pg_prod"].startswith(f"postgres postgres@127.0.0.1:5432/test schema {pg_schema}")
    _build(node / "active" / "project")
    rows = pg_conn.execute(f'SELECT country, total FROM "{pg_schema}".revenue ORDER BY country').fetchall()  # type: ignore[attr-defined]
    assert rows == [("de", 1.0), ("fr", 100.0), ("us", 75.0)]
    # the node's secret is linked into the project, never copied
    link = node / "active" / "project" / ".tide" / "secrets.yaml"
    assert link.is_symlink()
    for path in (node / "bundles").rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert S.SECRET.encode() not in path.read_bytes(), path


def test_load_data_fills_missing_source_datasets(shop: Path, tmp_path: Path) -> None:
    node = tmp_path / "fresh"
    node.mkdir()
    (node / "connections.yaml").write_text("prod_db: {type: duckdb, path: prod.duckdb}\n")  # bare mapping works too
    info = create_bundle(load_project(shop), "v1", with_data=True)
    deployment = deploy_bundle(info.path, node, remap={"dev_db": "prod_db"}, load_data=True)
    assert deployment.loaded_data == ["orders"]
    _build(node / "active" / "project")
    assert sorted(S.duck(node / "prod.duckdb", "SELECT country, total FROM revenue")) == [("de", 7.0), ("fr", 15.0)]


def test_bundle_connections_without_a_node_override_live_in_the_node_dir(shop: Path, tmp_path: Path) -> None:
    node = tmp_path / "fresh"
    info = create_bundle(load_project(shop), "v1", with_data=True)
    first = deploy_bundle(info.path, node, load_data=True)  # no remap, no connections.yaml
    assert first.connections["dev_db"] == f"duckdb {node / 'dev.duckdb'} [bundle]"
    _build(node / "active" / "project")
    deploy_bundle(_bundle(shop, "v2"), node)
    assert os.readlink(node / "active") == "bundles/0002-v2"
    # the data outlives the bundle: the next bundle reads the same file
    assert S.duck(node / "dev.duckdb", "SELECT count(*) FROM revenue") == [(2,)]
    _build(node / "active" / "project")


def test_tampered_bundle_is_refused_and_the_active_bundle_keeps_running(shop: Path, node: Path) -> None:
    deploy_bundle(_bundle(shop, "v1"), node, remap={"dev_db": "prod_db"})
    v2 = _bundle(shop, "v2")
    (v2 / "project" / "recipes" / "top_countries.sql").write_text("SELECT country FROM revenue -- evil\n")
    with pytest.raises(DeployRefused, match=r"project/recipes/top_countries.sql: checksum mismatch"):
        deploy_bundle(v2, node, remap={"dev_db": "prod_db"})
    assert os.readlink(node / "active") == "bundles/0001-v1"
    assert sorted(p.name for p in (node / "bundles").iterdir()) == ["0001-v1"]  # no staging left behind
    assert history(node)[-1]["action"] == "refused" and history(node)[-1]["active"] == "0001-v1"
    _build(node / "active" / "project")  # still runs
    assert node_status(node).integrity == "intact"


def test_tampered_archive_is_refused(shop: Path, node: Path) -> None:
    import tarfile

    archive = create_bundle(load_project(shop), "v1", archive=True).path
    evil = archive.with_name("evil.tar.gz")
    with tarfile.open(archive) as src, tarfile.open(evil, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            if member.name == "project/recipes/revenue.yaml" and data is not None:
                import io

                content = data.read().replace(b"sum", b"max")
                member.size = len(content)
                dst.addfile(member, io.BytesIO(content))
            else:
                dst.addfile(member, data)
    with pytest.raises(DeployRefused, match=r"revenue.yaml: checksum mismatch"):
        deploy_bundle(evil, node, remap={"dev_db": "prod_db"})
    assert not (node / "active").exists()
    assert deploy_bundle(archive, node, remap={"dev_db": "prod_db"}).id == "0001-v1"


def test_unresolvable_connections_are_refused_by_name(shop: Path, node: Path) -> None:
    deploy_bundle(_bundle(shop, "v1"), node, remap={"dev_db": "prod_db"})
    v2 = _bundle(shop, "v2")
    with pytest.raises(DeployRefused, match=r"connection 'prdo_db' \(remapped from 'dev_db'\) is unknown on the node: "
                                            r"did you mean 'prod_db'"):
        deploy_bundle(v2, node, remap={"dev_db": "prdo_db"})
    with pytest.raises(DeployRefused, match=r"--remap names connection 'dev': did you mean 'dev_db'"):
        deploy_bundle(v2, node, remap={"dev": "prod_db"})
    (node / "connections.yaml").write_text(
        "connections:\n  prod_db: {type: duckdb, path: data/prod.duckdb}\n"
        "  broken: {type: duckdb, path: /nonexistent/folder/x.duckdb}\n")
    with pytest.raises(DeployRefused, match=r"connection 'broken' cannot be opened: .*folder /nonexistent/folder"):
        deploy_bundle(v2, node, remap={"dev_db": "broken"})
    assert os.readlink(node / "active") == "bundles/0001-v1"
    assert [h["action"] for h in history(node)] == ["deploy", "refused", "refused", "refused"]


def test_unreachable_postgres_is_refused_without_leaking_the_password(shop: Path, node: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDE_TEST_DEPLOY_PW", S.SECRET)
    (node / "connections.yaml").write_text(
        "connections:\n  pg_prod: {type: postgres, port: 1, dbname: nope, user: postgres, "
        "password_env: TIDE_TEST_DEPLOY_PW, connect_timeout_s: 2}\n")
    with pytest.raises(DeployRefused, match=r"connection 'pg_prod' cannot be opened") as caught:
        deploy_bundle(_bundle(shop, "v1"), node, remap={"dev_db": "pg_prod"})
    assert S.SECRET not in str(caught.value)
    assert S.SECRET not in (node / "deployments.jsonl").read_text()
    # a missing schema is refused too
    (node / "connections.yaml").write_text(
        "connections:\n  pg_prod: {type: postgres, dbname: test, user: postgres, schema: no_such_schema_xyz}\n")
    with pytest.raises(DeployRefused, match=r"schema 'no_such_schema_xyz' does not exist"):
        deploy_bundle(node.parent / "shop" / ".tide" / "bundles" / "v1", node, remap={"dev_db": "pg_prod"})


def test_rollback_restores_the_previous_bundle(shop: Path, node: Path) -> None:
    deploy_bundle(_bundle(shop, "v1"), node, remap={"dev_db": "prod_db"})
    (shop / "recipes" / "top_countries.sql").write_text("SELECT country, total FROM revenue WHERE total > 60\n")
    second = deploy_bundle(_bundle(shop, "v2"), node, remap={"dev_db": "prod_db"})
    assert second.previous == "0001-v1"
    _build(node / "active" / "project")
    prod = node / "data" / "prod.duckdb"
    assert sorted(S.duck(prod, "SELECT country FROM top_countries")) == [("fr",), ("us",)]
    back = rollback(node)
    assert back.id == "0001-v1" and os.readlink(node / "active") == "bundles/0001-v1"
    assert "total > 10" in (node / "active" / "project" / "recipes" / "top_countries.sql").read_text()
    with pytest.raises(DeployRefused, match="nothing to roll back to: '0001-v1' was the first bundle"):
        rollback(node)
    assert [h["action"] for h in history(node)] == ["deploy", "deploy", "rollback"]
    status = node_status(node)
    assert status.active is not None and status.active.bundle == "v1" and status.integrity == "intact"


def test_rollback_refuses_a_tampered_previous_bundle(shop: Path, node: Path) -> None:
    deploy_bundle(_bundle(shop, "v1"), node, remap={"dev_db": "prod_db"})
    deploy_bundle(_bundle(shop, "v2"), node, remap={"dev_db": "prod_db"})
    (node / "bundles" / "0001-v1" / "bundle" / "RELEASE_NOTES.md").write_text("changed\n")
    with pytest.raises(DeployRefused, match=r"rollback refused: .*RELEASE_NOTES\.md: checksum mismatch"):
        rollback(node)
    assert os.readlink(node / "active") == "bundles/0002-v2"
    assert node_status(node).integrity == "intact"  # the active v2 itself is untouched


def test_status_reports_tampering_of_the_active_bundle(shop: Path, node: Path) -> None:
    assert node_status(node).active is None
    deploy_bundle(_bundle(shop, "v1"), node, remap={"dev_db": "prod_db"})
    (node / "active" / "bundle" / "project" / "recipes" / "revenue.yaml").write_text("x: 1\n")
    assert "revenue.yaml: checksum mismatch" in node_status(node).integrity


def test_parse_remap() -> None:
    assert parse_remap(["a=b", " c = d "]) == {"a": "b", "c": "d"}
    with pytest.raises(ProjectError, match="invalid --remap 'a': expected OLD=NEW"):
        parse_remap(["a"])
    with pytest.raises(ProjectError, match="gives connection 'a' twice"):
        parse_remap(["a=b", "a=c"])


def test_cli_create_deploy_status_rollback(shop: Path, node: Path) -> None:
    app = typer.Typer()
    app.add_typer(bundle_app, name="bundle")
    app.add_typer(deploy_app, name="deploy")
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None})
    p = ["--project", str(shop)]
    result = runner.invoke(app, ["bundle", "create", "v1", "--notes", "first", *p])
    assert result.exit_code == 0, result.output
    assert "bundle v1" in result.output and "2 saved-model versions" in result.output
    result = runner.invoke(app, ["bundle", "create", "v2", "--archive", *p])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["bundle", "list", *p])
    assert "v1" in result.output and "v2" in result.output and "first" in result.output
    assert runner.invoke(app, ["bundle", "verify", "v2", *p]).exit_code == 0
    result = runner.invoke(app, ["deploy", "bundle", "v1", "--to", str(node), "--remap", "dev_db=prod_db", *p])
    assert result.exit_code == 0, result.output
    assert "deployed v1 as 0001-v1" in result.output
    result = runner.invoke(app, ["deploy", "bundle", "v2", "--to", str(node), "--remap", "dev_db=nowhere", *p])
    assert result.exit_code == 4
    assert "connection 'nowhere' (remapped from 'dev_db') is unknown on the node" in result.output
    assert "the active bundle is unchanged" in result.output
    result = runner.invoke(app, ["deploy", "bundle", str(shop / ".tide" / "bundles" / "v2.tar.gz"), "--to",
                                 str(node), "--remap", "dev_db=prod_db"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["deploy", "status", "--to", str(node)])
    assert result.exit_code == 0 and "active: v2 (0002-v2" in result.output and "integrity: intact" in result.output
    assert "refused" in result.output
    result = runner.invoke(app, ["deploy", "rollback", "--to", str(node)])
    assert result.exit_code == 0 and "rolled back to v1 (0001-v1)" in result.output
    record = json.loads((node / "bundles" / "0002-v2" / "deployment.json").read_text())
    assert record["remap"] == {"dev_db": "prod_db"} and record["previous"] == "0001-v1"
