"""``tide deploy api``: packages verified before the switch, real API node processes reloaded without dropping
requests (one process, and a router with replica processes), refusals that keep the active release, rollback,
manifests, and the ``refresh_api`` scenario step. Every process is started here and stopped by its PID."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from tideflow.automation.api_package import bundle_source, project_source, read_package
from tideflow.automation.bundles import create_bundle
from tideflow.automation.deploy import DeployRefused, history
from tideflow.automation.deploy_api import (
    api_status,
    deploy_api,
    rollback_api,
    service_dir,
    write_api_manifests,
)
from tideflow.automation.scenarios_run import run_scenario
from tideflow.cli.bundle_cmds import deploy_app
from tideflow.models import Registry
from tideflow.project import load_project
from tideflow.serving.noderecord import record_path, running_node
from tideflow.serving.runners import RunnerTarget, build_runner

SCHEMA = {"amount": "double", "n_tx": "integer"}
FUNCS = "def double(records):\n    return [{'y': r['x'] * 2} for r in records]\n"
RECORD = {"amount": 120.0, "n_tx": 3}


def service_yaml(*, workers: int = 1, autoscaling: bool = False, version: int | None = None,
                 function: str = "double") -> str:
    pinned = f", version: {version}" if version else ""
    text = (f"endpoints:\n  - {{name: score, type: prediction, model: fraud{pinned}, workers: {workers}}}\n"
            f"  - {{name: double, type: function, file: api/funcs.py, function: {function}, inputs: {{x: double}}, "
            f"workers: 0}}\n")
    if autoscaling:
        text += "autoscaling: {min_replicas: 1, max_replicas: 1}\n"
    return text


def save_version(root: Path, seed: int) -> int:
    """A real scikit-learn pipeline saved as the next (active) version of ``fraud``."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"amount": rng.gamma(2.0, 50.0, 300), "n_tx": rng.integers(0, 30, 300)})
    y = (x["amount"] > 100).astype(int)
    pipe = Pipeline([("pre", ColumnTransformer([("num", StandardScaler(), ["amount", "n_tx"])])),
                     ("model", LogisticRegression(C=float(seed)))]).fit(x, y)
    with Registry(root / ".tide") as registry:
        return registry.save("fraud", pipe, algorithm="logistic", metric="auc", score=0.9, metrics={},
                             input_schema=dict(SCHEMA), record={"classes": [0, 1]}).version


def make_project(root: Path, **service: Any) -> Path:
    (root / "api").mkdir(parents=True)
    (root / "scenarios").mkdir()
    (root / "tideflow.yaml").write_text("name: apideploy\n")
    (root / "api" / "funcs.py").write_text(FUNCS)
    (root / "api" / "fraud.yaml").write_text(service_yaml(**service))
    save_version(root, 1)
    return root


# ---------------------------------------------------------------------------------------- real processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    """``tide api serve fraud ...`` as a real process on a free 127.0.0.1 port; stopped by its PID."""

    def __init__(self, args: list[str], record: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.record = record
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tideflow.cli.main", "api", "serve", "fraud", "--port", str(self.port),
                 *args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API node exited with {self.process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200 and running_node(record):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the API node was not ready in 120 s:\n{log.read_text()}")

    def predict(self) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/endpoints/score/predict", json=RECORD, timeout=30.0)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class Traffic:
    """Requests one after another from a thread until stopped: (sent at, status, version) of each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[float, int, str | None]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30.0) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    response = client.post("/v1/endpoints/score/predict", json=RECORD)
                    version = response.json().get("version") if response.status_code == 200 else None
                    self.seen.append((sent, response.status_code, version))
                except httpx.HTTPError as err:
                    self.seen.append((sent, 0, type(err).__name__))
                time.sleep(0.005)

    def stop(self) -> list[tuple[float, int, str | None]]:
        self._stop.set()
        self.thread.join(timeout=60)
        return self.seen


@pytest.fixture()
def nodes() -> Iterator[list[Node]]:
    started: list[Node] = []
    try:
        yield started
    finally:
        for node in started:
            node.stop()


def _versions_after(seen: list[tuple[float, int, str | None]], since: float) -> set[str | None]:
    return {v for sent, _, v in seen if sent > since}


def test_a_deploy_reloads_the_running_node_without_dropping_requests(tmp_path: Path, nodes: list[Node]) -> None:
    root = make_project(tmp_path / "proj", workers=1)
    node_dir = tmp_path / "api-node"
    first = deploy_api(project_source(load_project(root)), "fraud", node_dir)
    assert first.id.startswith("0001-") and first.serves == ["fraud v1", "double (function)"]
    assert first.reload == "no API node of this service is running on the node directory"
    folder = service_dir(node_dir, "fraud")
    assert os.readlink(folder / "active") == f"releases/{first.id}"
    node = Node(["--node", str(node_dir)], folder / "node.json", tmp_path / "node.log")
    nodes.append(node)
    assert node.predict().json()["version"] == "1"

    traffic = Traffic(node.url)
    time.sleep(0.5)
    assert save_version(root, 2) == 2
    second = deploy_api(project_source(load_project(root)), "fraud", node_dir)
    switched = time.monotonic()
    assert second.previous == first.id and second.serves == ["fraud v2", "double (function)"]
    assert "reloaded without dropping requests" in second.reload, second.reload
    time.sleep(0.5)
    rolling = time.monotonic()
    rolled = rollback_api(node_dir, "fraud")
    rolled_back = time.monotonic()
    assert rolled.id == first.id and "reloaded" in rolled.reload
    time.sleep(0.5)
    seen = traffic.stop()

    assert len(seen) > 50
    assert [s for s in seen if s[1] != 200] == []  # nothing dropped, nothing failed
    assert _versions_after([s for s in seen if s[0] < rolling], switched) == {"2"}
    assert _versions_after(seen, rolled_back) == {"1"}
    status = api_status(node_dir, "fraud")
    assert status.active is not None and status.active.id == first.id and status.integrity == "intact"
    assert status.node is not None and status.node["generation"] == 3 and status.node["reload"]["state"] == "ok"
    assert [e["action"] for e in history(folder)] == ["deploy", "deploy", "rollback"]
    # the query log is the service's, shared by the releases
    logged = [json.loads(line) for f in sorted((folder / "query_log" / "fraud" / "score").glob("*.jsonl"))
              for line in f.read_text().splitlines()]
    node.stop()
    logged += [json.loads(line) for f in sorted((folder / "query_log" / "fraud" / "score").glob("*.jsonl"))
               for line in f.read_text().splitlines()][len(logged):]
    assert {e["version"] for e in logged} == {"1", "2"}
    assert not (folder / "node.json").exists()  # removed by the node when it stopped


def test_an_autoscaled_node_rolls_in_new_replicas(tmp_path: Path, nodes: list[Node]) -> None:
    root = make_project(tmp_path / "proj", workers=0, autoscaling=True)
    node_dir = tmp_path / "api-node"
    deploy_api(project_source(load_project(root)), "fraud", node_dir)
    folder = service_dir(node_dir, "fraud")
    node = Node(["--node", str(node_dir), "--standby", "0"], folder / "node.json", tmp_path / "node.log")
    nodes.append(node)
    before = httpx.get(f"{node.url}/v1/autoscaling", timeout=5).json()["replicas"]
    assert [r["generation"] for r in before] == [1]

    traffic = Traffic(node.url)
    time.sleep(0.5)
    save_version(root, 2)
    second = deploy_api(project_source(load_project(root)), "fraud", node_dir)
    switched = time.monotonic()
    assert "replica generation 2" in second.reload, second.reload
    time.sleep(1.0)
    seen = traffic.stop()

    assert [s for s in seen if s[1] != 200] == []
    assert _versions_after(seen, switched) == {"2"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the old replica finishes what it holds, then exits
        after = httpx.get(f"{node.url}/v1/autoscaling", timeout=5).json()
        if [r["generation"] for r in after["replicas"]] == [2]:
            break
        time.sleep(0.2)
    assert [r["generation"] for r in after["replicas"]] == [2]
    assert after["replicas"][0]["pid"] != before[0]["pid"] and after["failures"] == 0


# ---------------------------------------------------------------------------------------- refusals


def test_refusals_name_the_file_and_keep_the_active_release(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    node_dir = tmp_path / "api-node"
    folder = service_dir(node_dir, "fraud")
    first = deploy_api(project_source(load_project(root)), "fraud", node_dir)

    def refused(match: str) -> None:
        with pytest.raises(DeployRefused, match=match):
            deploy_api(project_source(load_project(root)), "fraud", node_dir)
        assert os.readlink(folder / "active") == f"releases/{first.id}"
        assert [p.name for p in (folder / "releases").iterdir()] == [first.id]  # no staging left behind

    (root / "api" / "fraud.yaml").write_text(service_yaml(version=9))
    refused(r"api/fraud.yaml at endpoints\[0\].version: model 'fraud' has no version 9 \(versions: 1\)")
    (root / "api" / "fraud.yaml").write_text(service_yaml(function="tripel"))
    refused(r"api/fraud.yaml at endpoints\[1\] \('double'\): api/funcs.py has no function 'tripel'")
    (root / "api" / "fraud.yaml").write_text(service_yaml() + "api_keys:\n  - {name: ops, secret: fraud_key}\n")
    refused(r"api/fraud.yaml at api_keys\[0\]: .*'fraud_key'")
    (node_dir / "secrets.yaml").write_text("fraud_key: k-0123456789\n")  # the node supplies it: accepted
    keyed = deploy_api(project_source(load_project(root)), "fraud", node_dir)
    assert (keyed.project_dir / ".tide" / "secrets.yaml").is_symlink()
    (root / "api" / "fraud.yaml").write_text(service_yaml())
    with pytest.raises(DeployRefused, match=r"--remap names connection 'dev'.*does not declare"):
        deploy_api(project_source(load_project(root)), "fraud", node_dir, remap={"dev": "prod"})

    third = deploy_api(project_source(load_project(root)), "fraud", node_dir)
    again = deploy_api(project_source(load_project(root)), "fraud", node_dir)
    assert again.unchanged and again.id == third.id  # same content: no new release
    actions = [e["action"] for e in history(folder)]
    assert actions == ["deploy", "refused", "refused", "refused", "deploy", "refused", "deploy", "unchanged"]

    # a release tampered with on the node is refused as a rollback target
    tampered = keyed.path / "package" / "project" / "api" / "funcs.py"
    tampered.write_text(FUNCS + "# edited on the node\n")
    with pytest.raises(DeployRefused, match=r"rollback refused: .*project/api/funcs.py: checksum mismatch"):
        rollback_api(node_dir, "fraud")
    assert os.readlink(folder / "active") == f"releases/{third.id}"

    runner = CliRunner()
    (root / "api" / "fraud.yaml").write_text(service_yaml(version=7))
    result = runner.invoke(deploy_app, ["api", "fraud", "--to", str(node_dir), "-p", str(root)])
    assert result.exit_code == 4, result.output
    assert "has no version 7" in result.output and "the active release is unchanged" in result.output


def test_a_tampered_bundle_is_refused_and_an_intact_one_deploys(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    save_version(root, 2)
    info = create_bundle(load_project(root), "v1")
    node_dir = tmp_path / "api-node"
    release = deploy_api(bundle_source(info.path), "fraud", node_dir)
    assert release.serves == ["fraud v2", "double (function)"] and release.source.startswith("bundle v1 (")
    with Registry(release.project_dir / ".tide") as registry:
        assert registry.get("fraud").version == 2
    (info.path / "project" / "api" / "funcs.py").write_text("def double(records):\n    return []\n")
    with pytest.raises(DeployRefused, match=r"bundle 'v1' failed verification: project/api/funcs.py: checksum"):
        deploy_api(bundle_source(info.path), "fraud", node_dir)
    assert os.readlink(service_dir(node_dir, "fraud") / "active") == f"releases/{release.id}"


def test_connections_are_remapped_and_the_sql_endpoint_reads_the_node_database(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    (root / "tideflow.yaml").write_text("name: apideploy\nconnections:\n  dev_db: {type: duckdb, path: dev.duckdb}\n"
                                        "defaults: {connection: dev_db}\n")
    (root / "api" / "fraud.yaml").write_text(
        service_yaml() + "  - {name: merchant, type: sql_query, connection: dev_db, "
                         "query: 'SELECT name FROM merchants WHERE id = :id', parameters: {id: integer}}\n")
    node_dir = tmp_path / "api-node"
    (node_dir / "data").mkdir(parents=True)
    (node_dir / "connections.yaml").write_text("prod_db: {type: duckdb, path: data/prod.duckdb}\n")
    con = duckdb.connect(str(node_dir / "data" / "prod.duckdb"))
    con.execute("CREATE TABLE merchants AS SELECT 1 AS id, 'acme prod' AS name")
    con.close()
    release = deploy_api(project_source(load_project(root)), "fraud", node_dir, remap={"dev_db": "prod_db"})
    assert "data/prod.duckdb [node] (remapped from 'dev_db')" in release.connections["prod_db"]
    served = yaml.safe_load((release.project_dir / "api" / "fraud.yaml").read_text())
    assert served["endpoints"][2]["connection"] == "prod_db"
    target = RunnerTarget(str(service_dir(node_dir, "fraud") / "active" / "project"), "fraud", "merchant", "1")
    assert build_runner(target)([{"id": 1}]) == [{"rows": [{"name": "acme prod"}]}]


def test_manifests_hold_the_package_the_project_and_the_kubernetes_objects(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj", autoscaling=True)
    written = write_api_manifests(project_source(load_project(root)), "fraud", tmp_path / "deploy",
                                  image="registry.local/fraud:1", namespace="ml")
    folder = tmp_path / "deploy" / "fraud"
    assert {p.name for p, _ in written} >= {"package", "project", "kubernetes.yaml", "ray-serve.yaml"}
    manifest, service = read_package(folder / "package")
    assert service == "fraud" and manifest.models == [{"name": "fraud", "version": 1, "active": True}]
    objects = list(yaml.safe_load_all((folder / "kubernetes.yaml").read_text()))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.local/fraud:1" and "/project" in container["args"]
    with Registry(folder / "project" / ".tide") as registry:
        assert registry.get("fraud").version == 1
    target = RunnerTarget(str(folder / "project"), "fraud", "score", "active")
    assert build_runner(target)([RECORD])[0]["prediction"] in (0, 1)


# ---------------------------------------------------------------------------------------- the scenario step


def test_the_refresh_api_step_reloads_the_projects_node_and_deploys_to_a_node_dir(tmp_path: Path,
                                                                                   nodes: list[Node]) -> None:
    root = make_project(tmp_path / "proj", workers=0)
    (root / "scenarios" / "refresh.yaml").write_text("steps:\n  - {type: refresh_api, service: fraud}\n")
    (root / "scenarios" / "ship.yaml").write_text(
        "steps:\n  - {type: refresh_api, service: fraud, to: ../api-node}\n")
    idle = run_scenario(load_project(root), "refresh")
    assert idle.outcome == "failed" and "no API node of service 'fraud' is running for this project" in idle.message

    node = Node(["--project", str(root)], record_path(root, "fraud"), tmp_path / "node.log")
    nodes.append(node)
    assert node.predict().json()["version"] == "1"
    save_version(root, 2)
    run = run_scenario(load_project(root), "refresh")
    assert run.outcome == "succeeded", run.message
    assert "reloaded: fraud v2" in run.steps[0].message
    assert node.predict().json()["version"] == "2"

    shipped = run_scenario(load_project(root), "ship")
    assert shipped.outcome == "succeeded", shipped.message
    assert "deployed fraud 0001-" in shipped.steps[0].message
    with Registry(service_dir(tmp_path / "api-node", "fraud") / "active" / "project" / ".tide") as registry:
        assert registry.get("fraud").version == 2


def test_a_release_the_node_cannot_load_is_reverted(tmp_path: Path, nodes: list[Node],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The deployer cannot see the API node's environment: a key the node lacks fails its reload, and the
    deploy is reverted — the node keeps serving the previous release, and ``active`` names it again."""
    root = make_project(tmp_path / "proj", workers=0)
    node_dir = tmp_path / "api-node"
    first = deploy_api(project_source(load_project(root)), "fraud", node_dir)
    folder = service_dir(node_dir, "fraud")
    node = Node(["--node", str(node_dir)], folder / "node.json", tmp_path / "node.log")
    nodes.append(node)
    (root / "api" / "fraud.yaml").write_text(service_yaml(workers=0) +
                                             "api_keys:\n  - {name: ops, env: TIDE_TEST_NODE_LACKS_THIS}\n")
    monkeypatch.setenv("TIDE_TEST_NODE_LACKS_THIS", "k-0123456789")  # the deployer has it, the node does not
    with pytest.raises(DeployRefused, match=r"the API node \(pid \d+\) failed to reload: .*TIDE_TEST_NODE_LACKS_THIS"
                                            rf".*; switched back to {first.id}"):
        deploy_api(project_source(load_project(root)), "fraud", node_dir)
    assert os.readlink(folder / "active") == f"releases/{first.id}"
    assert [e["action"] for e in history(folder)] == ["deploy", "deploy", "reverted"]
    assert node.predict().json()["version"] == "1"  # no key needed: the previous release still serves
    info = running_node(folder / "node.json")
    assert info is not None and info["generation"] == 1 and info["reload"]["state"] == "failed"
