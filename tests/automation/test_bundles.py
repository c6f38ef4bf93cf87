"""Bundles: what goes in, the manifest's checksums, secrets never inside, data as Parquet."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tideflow.automation.bundles import BundleError, create_bundle, find_bundle, list_bundles, verify_bundle
from tideflow.project import load_project

_spec = importlib.util.spec_from_file_location("tide_bundle_support_b", Path(__file__).with_name(
    "test_bundle_support.py"))
assert _spec is not None and _spec.loader is not None
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    return S.write_shop(tmp_path / "shop")


def test_bundle_snapshots_specs_code_scenarios_and_used_model_versions(shop: Path) -> None:
    info = create_bundle(load_project(shop), "v1", notes="first release\n- revenue per country")
    assert info.path == shop / ".tide" / "bundles" / "v1"
    paths = {f.path for f in info.manifest.files}
    assert {
        "RELEASE_NOTES.md", "project/tideflow.yaml", "project/datasets/orders.yaml", "project/recipes/revenue.yaml",
        "project/recipes/top_countries.sql", "project/scenarios/nightly.yaml", "project/models/fraud.yaml",
        "project/api/scoring.yaml", "saved_models/fraud/2/pipeline.joblib", "saved_models/fraud/2/record.json",
        "saved_models/fraud/1/pipeline.joblib",  # pinned by api/scoring.yaml
    } <= paths
    assert not any("__pycache__" in p or "unused" in p or "fraud/3" in p for p in paths)  # v3 is not active
    assert not any(p.endswith(".duckdb") or "secrets" in p for p in paths)
    models = {(m["name"], m["version"], m["active"]) for m in info.manifest.models}
    assert models == {("fraud", 1, False), ("fraud", 2, True)}
    assert (info.path / "RELEASE_NOTES.md").read_text().startswith("first release")


def test_manifest_checksums_sizes_and_provenance(shop: Path) -> None:
    info = create_bundle(load_project(shop), "v1")
    raw = json.loads((info.path / "manifest.json").read_text())
    assert raw["tideflow_version"] == "0.1.0" and raw["project"] == "shop" and raw["created_at"].endswith("+00:00")
    assert "git_commit" in raw and raw["connections"] == ["dev_db"]
    for entry in raw["files"]:
        data = (info.path / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
    on_disk = {p.relative_to(info.path).as_posix() for p in info.path.rglob("*") if p.is_file()}
    assert on_disk == {e["path"] for e in raw["files"]} | {"manifest.json"}
    assert verify_bundle(info.path).digest == info.manifest.digest


def test_tampered_missing_or_extra_files_fail_verification(shop: Path) -> None:
    path = create_bundle(load_project(shop), "v1").path
    (path / "project" / "recipes" / "top_countries.sql").write_text("SELECT 1 AS hacked\n")
    (path / "saved_models" / "fraud" / "2" / "record.json").unlink()
    (path / "project" / "recipes" / "extra.py").write_text("print('x')\n")
    with pytest.raises(BundleError, match=r"top_countries.sql: checksum mismatch") as caught:
        verify_bundle(path)
    assert "saved_models/fraud/2/record.json: missing" in str(caught.value)
    assert "project/recipes/extra.py: not in the manifest" in str(caught.value)


def test_secrets_are_never_bundled(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = create_bundle(load_project(shop), "v1")
    for file in info.path.rglob("*"):
        if file.is_file():
            assert S.SECRET.encode() not in file.read_bytes(), file
    # a secret value pasted into a recipe: refused, and nothing is left behind
    (shop / "recipes" / "top_countries.sql").write_text(f"SELECT '{S.SECRET}' AS pw, * FROM revenue\n")
    with pytest.raises(BundleError, match=r"recipes/top_countries.sql contains the value of secret 'dev_password'"):
        create_bundle(load_project(shop), "v2")
    assert [b.name for b in list_bundles(load_project(shop))] == ["v1"]
    assert not any(p.name.startswith(".v2") for p in (shop / ".tide" / "bundles").iterdir())


def test_password_env_values_are_checked_too(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = S.CONFIG.replace("defaults:", "  extra_pg: {type: postgres, dbname: x, user: u, "
                                           "password_env: TIDE_TEST_BUNDLE_PW}\ndefaults:")
    (shop / "tideflow.yaml").write_text(config)
    monkeypatch.setenv("TIDE_TEST_BUNDLE_PW", "env-secret-value-42")
    (shop / "scenarios" / "notify.yaml").write_text("note: env-secret-value-42\n")
    with pytest.raises(BundleError, match=r"environment variable TIDE_TEST_BUNDLE_PW"):
        create_bundle(load_project(shop), "v1")


def test_with_data_exports_stored_datasets_as_parquet(shop: Path) -> None:
    info = create_bundle(load_project(shop), "v1", with_data=True)
    assert info.manifest.data == [{"dataset": "orders", "rows": 3, "path": "data/orders.parquet", "source": True}]
    table = pq.read_table(info.path / "data" / "orders.parquet")
    assert sorted(zip(table["country"].to_pylist(), table["amount"].to_pylist(), strict=True)) == sorted(S.DEV_ROWS)


def test_archive_bundle_and_names(shop: Path) -> None:
    project = load_project(shop)
    info = create_bundle(project, "v1.0-rc", archive=True)
    assert info.path.name == "v1.0-rc.tar.gz" and tarfile.is_tarfile(info.path)
    assert info.manifest.name == "v1.0-rc"
    assert find_bundle("v1.0-rc", project) == info.path
    with pytest.raises(BundleError, match="already exists"):
        create_bundle(project, "v1.0-rc")
    with pytest.raises(BundleError, match=r"invalid bundle name '\.\./x'"):
        create_bundle(project, "../x")
    with pytest.raises(BundleError, match=r"no bundle 'v1\.0-r': did you mean 'v1\.0-rc'"):
        find_bundle("v1.0-r", project)


def test_a_project_without_saved_models_bundles(tmp_path: Path) -> None:
    root = S.write_shop(tmp_path / "plain", with_models=False)
    info = create_bundle(load_project(root), "v1")
    assert info.manifest.models == [] and not (info.path / "saved_models").exists()


def test_a_score_recipe_pinning_a_version_brings_it_into_the_bundle(shop: Path) -> None:
    (shop / "recipes" / "scored.yaml").write_text(
        "type: score\ninputs: orders\noutputs: scored_orders\nmodel: fraud\nversion: 3\n", encoding="utf-8")
    info = create_bundle(load_project(shop), "v2")
    models = {(m["name"], m["version"], m["active"]) for m in info.manifest.models}
    assert ("fraud", 3, False) in models and ("fraud", 2, True) in models
    assert "saved_models/fraud/3/pipeline.joblib" in {f.path for f in info.manifest.files}
