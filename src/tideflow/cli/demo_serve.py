"""The API-node part of ``tide demo``: serve ``api/card_fraud.yaml`` and send one card with each protocol.

``serve_demo(project, console)`` starts ``tide api serve card_fraud`` on a free loopback port (its own
process, with a fresh API key), scores one held-out card through Tideflow's native JSON, the Open
Inference Protocol v2 and MLflow's ``/invocations``, looks the card up by id, shows a bad request's
answer, and stops the node by its PID.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from tideflow.models import Registry
from tideflow.project import Project

SERVICE = "card_fraud"
ENDPOINT = "fraud"
V2_TYPES = {"double": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_card(project: Project, columns: list[str]) -> dict[str, Any]:
    """The first held-out card (``card_features_test``) with the model's input columns."""
    path = project.root / project.config.connections[project.config.defaults.connection].path  # type: ignore[union-attr]
    with duckdb.connect(str(path), read_only=True) as con:
        quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in ["card_id", *columns])
        cursor = con.execute(f"SELECT {quoted} FROM card_features_test ORDER BY card_id LIMIT 1")
        names = [d[0] for d in cursor.description]
        row = cursor.fetchall()[0]
    return dict(zip(names, row, strict=True))


def _start(project: Project, port: int, key: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TIDE_DEMO_API_KEY": key}
    code = "import sys; from tideflow.cli.main import main; sys.exit(main())"
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-c", code, "api", "serve", SERVICE, "--port", str(port),
                                 "--project", str(project.root)], stdout=out, stderr=subprocess.STDOUT, env=env)


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API node exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API node was not ready within {timeout_s:.0f} s; its log: {log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # in-flight requests finish, workers drain
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _requests(card: dict[str, Any], schema: dict[str, str]) -> list[tuple[str, str, str, dict[str, Any]]]:
    features = {k: card[k] for k in schema}
    v2 = {"inputs": [{"name": k, "shape": [1], "datatype": V2_TYPES.get(t, "BYTES"), "data": [features[k]]}
                     for k, t in schema.items()]}
    split = {"dataframe_split": {"columns": list(features), "data": [list(features.values())]}}
    number = next((k for k, t in schema.items() if t in ("double", "integer")), next(iter(schema)))
    wrong = {**features, number: "lots"}
    return [
        ("native JSON", "POST", f"/v1/endpoints/{ENDPOINT}/predict", {"json": features}),
        ("Open Inference v2", "POST", f"/v2/models/{ENDPOINT}/infer", {"json": v2}),
        ("MLflow /invocations", "POST", "/invocations", {"json": split}),
        ("lookup by key", "POST", "/v1/endpoints/card/predict", {"json": {"card_id": card["card_id"]}}),
        ("a bad request", "POST", f"/v1/endpoints/{ENDPOINT}/predict", {"json": wrong}),
    ]


def _short(body: str, width: int = 70) -> str:
    try:
        data = json.loads(body)
        data.pop("request_id", None) if isinstance(data, dict) else None
        body = json.dumps(data, separators=(",", ":"))
    except ValueError:
        pass
    return body if len(body) <= width else body[: width - 1] + "…"


def serve_demo(project: Project, console: Console) -> None:
    """Serve the demo model, send one card with each protocol, print what came back, stop the node."""
    console.print(Rule("The API node: card_fraud"))
    with Registry(project.state_dir) as registry:
        if not any(v.active for v in registry.list("card_fraud")):
            console.print(Text("No active card_fraud model: nothing to serve.", style="yellow"))
            return
        schema = dict(registry.get("card_fraud").input_schema)
    card = _one_card(project, list(schema))
    key, port = secrets.token_urlsafe(24), _free_port()
    base = f"http://127.0.0.1:{port}"
    log = project.state_dir / "demo-api-node.log"
    started = time.perf_counter()
    process = _start(project, port, key, log)
    try:
        _wait_ready(base, process, log)
        console.print(f"tide api serve {SERVICE} on {base} (pid {process.pid}), ready in "
                      f"{time.perf_counter() - started:.1f} s; card {card['card_id']} of card_features_test:")
        table = Table(show_edge=False, show_lines=True)
        table.add_column("request")
        table.add_column("status", justify="right")
        table.add_column("ms", justify="right")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            for label, method, path, kwargs in _requests(card, schema):
                t0 = time.perf_counter()
                response = client.request(method, path, **kwargs)
                ms = (time.perf_counter() - t0) * 1000
                answer = (_short(response.text, 200), "dim")
                table.add_row(Text.assemble((label, "bold"), f"  {method} {path}\n", answer),
                              str(response.status_code), f"{ms:.1f}")
            missing_key = httpx.post(f"{base}/v1/endpoints/{ENDPOINT}/predict", json={}, timeout=30)
            table.add_row(Text.assemble(("no API key", "bold"), f"  POST /v1/endpoints/{ENDPOINT}/predict\n",
                                        (_short(missing_key.text, 200), "dim")), str(missing_key.status_code), "")
        console.print(table)
    finally:
        _stop(process)


__all__ = ["SERVICE", "serve_demo"]
