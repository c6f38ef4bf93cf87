"""DuckDB admits one process per file while one writes. Opening the warehouse waits a bounded time for
another process that holds it (a short read, another command), then says clearly who is in the way."""

from __future__ import annotations

import subprocess
import time
from contextlib import AbstractContextManager
from pathlib import Path

import duckdb
import pytest

from tideflow.connections import DatabaseBusy, DuckDBDatabase
from tideflow.connections.duck import LOCK_WAIT_S
from tideflow.errors import ConnectionError_
from tideflow.project import DuckDBConnection

from ..holding import holding

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def held(path: Path, seconds: float) -> AbstractContextManager[subprocess.Popen[str]]:
    """Another process holds ``path`` open read-write for ``seconds``."""
    return holding(HOLD, str(path), str(seconds))


def _database(root: Path, path: str = "wh.duckdb") -> DuckDBDatabase:
    return DuckDBDatabase("warehouse", DuckDBConnection(type="duckdb", path=path), root)


def test_a_short_hold_is_waited_for(tmp_path: Path) -> None:
    duckdb.connect(str(tmp_path / "wh.duckdb")).close()
    db = _database(tmp_path)
    with held(tmp_path / "wh.duckdb", 1.0):
        started = time.monotonic()
        con = db.connect()
        waited = time.monotonic() - started
    try:
        assert 0.3 < waited < LOCK_WAIT_S, waited
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert con.fetch_arrow("SELECT x FROM t").to_pylist() == [{"x": 1}]
    finally:
        db.close()


def test_a_long_hold_is_a_clear_busy_error_after_the_wait(tmp_path: Path) -> None:
    duckdb.connect(str(tmp_path / "wh.duckdb")).close()
    db = _database(tmp_path)
    with held(tmp_path / "wh.duckdb", 60.0) as holder:
        started = time.monotonic()
        with pytest.raises(DatabaseBusy) as caught:
            db.connect()
        waited = time.monotonic() - started
    assert LOCK_WAIT_S - 0.1 < waited < LOCK_WAIT_S + 3, waited
    message = str(caught.value)
    assert message.startswith("connection 'warehouse': DuckDB file ") and "is held by another process" in message
    assert f"PID {holder.pid}" in message  # DuckDB names the process in the way


def test_other_open_errors_do_not_wait(tmp_path: Path) -> None:
    (tmp_path / "blocks" / "wh.duckdb").mkdir(parents=True)  # "lock" in the path; a directory, not a file
    started = time.monotonic()
    with pytest.raises(ConnectionError_) as caught:
        _database(tmp_path, "blocks/wh.duckdb").connect()
    assert not isinstance(caught.value, DatabaseBusy)
    assert time.monotonic() - started < 1.0
    assert "cannot open DuckDB file" in str(caught.value)


def test_the_deployer_check_waits_for_a_short_hold_and_refuses_a_long_one(tmp_path: Path) -> None:
    from tideflow.automation.deploy_connections import DeployRefused, ResolvedConnection, check_opens

    path = tmp_path / "wh.duckdb"
    duckdb.connect(str(path)).close()
    conn = ResolvedConnection("warehouse", DuckDBConnection(type="duckdb", path=str(path)), "node", None)
    with held(path, 1.0):
        check_opens(conn, tmp_path)  # a build's short hold: waited for, then the file opens read-only
    with held(path, 60.0), pytest.raises(DeployRefused) as caught:
        check_opens(conn, tmp_path)
    message = str(caught.value)
    assert message.startswith("connection 'warehouse' cannot be opened: ") and "held by another process" in message
