"""Triggers: the cron parser, the missed-run policy, and the automation node on a real DuckDB project.

Data triggers fire once per change; a restart follows each time trigger's ``missed`` policy
(no silent catch-up); two triggers firing at once start one run; after_scenario chains runs.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import duckdb
import pytest

from tideflow.automation.node import Node
from tideflow.automation.runs import RunHistory
from tideflow.automation.scenarios_run import run_scenario
from tideflow.automation.triggers import CronError, parse_cron, scheduled_between, time_firings
from tideflow.project import load_project

UTC = dt.UTC


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def nxt(expr: str, after: str) -> str:
    return parse_cron(expr).next_after(dt.datetime.fromisoformat(after)).isoformat(timespec="minutes")


@pytest.mark.parametrize(("expr", "after", "expected"), [
    ("* * * * *", "2024-01-01T10:00:30", "2024-01-01T10:01"),
    ("0 2 * * *", "2024-01-01T02:00", "2024-01-02T02:00"),
    ("*/15 9-17 * * mon-fri", "2024-01-05T17:50", "2024-01-08T09:00"),  # Friday evening -> Monday
    ("0 0 29 2 *", "2024-03-01T00:00", "2028-02-29T00:00"),
    ("0 12 1 * 0", "2024-01-02T00:00", "2024-01-07T12:00"),  # day 1 OR Sunday
    ("30 4 * jan,jul 7", "2024-02-01T00:00", "2024-07-07T04:30"),
    ("@monthly", "2024-01-15T00:00", "2024-02-01T00:00"),
])
def test_cron_next_time(expr: str, after: str, expected: str) -> None:
    assert nxt(expr, after) == expected


@pytest.mark.parametrize(("expr", "message"), [
    ("0 2 * *", r"expected 5 fields .* got 4 field\(s\) in '0 2 \* \*'"),
    ("61 * * * *", r"minute: expected a number 0-59, got 61"),
    ("0 0 * foo *", r"month: expected a number 1-12 or a name \(jan, .*\), got 'foo'"),
    ("*/0 * * * *", r"minute: expected a step of 1 or more after '/', got '0'"),
    ("0 0 31 2 *", r"never fires"),
    ("5-1 * * * *", r"minute: a range must go up, got '5-1'"),
])
def test_cron_errors_name_the_field(expr: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        parse_cron(expr)


def test_scheduled_times_follow_the_time_zone() -> None:
    times = scheduled_between(parse_cron("0 2 * * *"), "Europe/Paris", at("2024-07-01T00:00"), at("2024-07-03T00:00"))
    assert times == [at("2024-07-02T00:00"), at("2024-07-03T00:00")]  # 02:00 in Paris is 00:00 UTC in summer


def test_missed_policy_is_a_pure_decision() -> None:
    hourly = parse_cron("0 * * * *")
    # first start: nothing before now counts as missed
    first = time_firings(hourly, "UTC", None, at("2024-01-01T10:30"), grace_s=60, missed="skip")
    assert (first.run, first.missed, first.last_s) == (False, [], at("2024-01-01T10:30"))
    # on time
    on_time = time_firings(hourly, "UTC", at("2024-01-01T10:30"), at("2024-01-01T11:00:20"), grace_s=60,
                           missed="skip")
    assert on_time.run and on_time.on_time == [at("2024-01-01T11:00")] and not on_time.missed
    # the node was down from 10:30 to 13:30: 11:00, 12:00, 13:00 are missed
    down = dict(grace_s=60.0, last_s=at("2024-01-01T10:30"), now_s=at("2024-01-01T13:30"))
    skip = time_firings(hourly, "UTC", down["last_s"], down["now_s"], grace_s=down["grace_s"], missed="skip")
    assert not skip.run and len(skip.missed) == 3 and skip.last_s == at("2024-01-01T13:00")
    once = time_firings(hourly, "UTC", down["last_s"], down["now_s"], grace_s=down["grace_s"], missed="run_once")
    assert once.run and len(once.missed) == 3 and once.last_s == at("2024-01-01T13:00")


# ------------------------------------------------------------------ the node on a real project


def make_project(root: Path) -> Path:
    for folder in ("datasets", "recipes", "scenarios"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tideflow.yaml").write_text("name: t\n")
    (root / "datasets" / "orders.yaml").write_text("table: orders\n")
    (root / ".tide").mkdir(exist_ok=True)
    sql(root, "CREATE TABLE orders AS SELECT * FROM (VALUES (1, 10.0::DOUBLE), (2, 25.0)) t(id, amount)")
    return root


def sql(root: Path, statement: str) -> None:
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        con.execute(statement)
    finally:
        con.close()


MARK = "steps:\n  - {type: run_sql, connection: warehouse, sql: \"INSERT INTO marks VALUES ('${scenario}')\"}\n"


def write(root: Path, name: str, triggers: str, steps: str = MARK) -> None:
    (root / "scenarios" / f"{name}.yaml").write_text(f"triggers:\n{triggers}{steps}")


def fired(node: Node, now: float | None = None) -> list[str]:
    firings = node.tick(now)
    node.wait(120)
    return [f.trigger for f in firings]


def test_dataset_changed_fires_once_per_change(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    sql(root, "CREATE TABLE marks (s VARCHAR)")
    write(root, "on_orders", "  - {type: dataset_changed, datasets: [orders], every_s: 0.001}\n")
    node = Node(root)
    assert fired(node) == []  # the first observation is the baseline
    assert fired(node) == []
    sql(root, "INSERT INTO orders VALUES (3, 99.0)")
    assert fired(node) == ["dataset_changed orders"]
    assert fired(node) == []  # the same change does not fire twice
    sql(root, "DELETE FROM orders WHERE id = 1")
    assert fired(node) == ["dataset_changed orders"]
    runs = RunHistory(root / ".tide").runs("on_orders")
    assert [r.outcome for r in runs] == ["succeeded", "succeeded"]
    # a restarted node keeps what its triggers saw: no run without a change
    assert fired(Node(root)) == []


def test_sql_changed_fires_once_per_change_of_the_result(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    sql(root, "CREATE TABLE marks (s VARCHAR)")
    write(root, "on_max", "  - {type: sql_changed, connection: warehouse, sql: SELECT max(amount) FROM orders, "
                          "every_s: 0.001}\n")
    node = Node(root)
    assert fired(node) == []
    sql(root, "INSERT INTO orders VALUES (3, 1.0)")  # the max does not move
    assert fired(node) == []
    sql(root, "INSERT INTO orders VALUES (4, 500.0)")
    assert fired(node) == ["sql_changed warehouse"]
    assert fired(node) == []


def test_missed_runs_after_a_restart_follow_the_policy(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    sql(root, "CREATE TABLE marks (s VARCHAR)")
    write(root, "skipper", "  - {type: time, cron: '0 * * * *'}\n")
    write(root, "catcher", "  - {type: time, cron: '0 * * * *', missed: run_once}\n")
    assert fired(Node(root), at("2024-01-01T10:30")) == []  # first start: no past, nothing missed
    node = Node(root)  # restarted at 14:00:10: 11:00, 12:00, 13:00 were missed, 14:00 is on time
    assert fired(node, at("2024-01-01T14:00:10")) == ["time 0 * * * *"] * 2
    node = Node(root)  # restarted at 17:30: 15:00, 16:00, 17:00 were missed
    assert fired(node, at("2024-01-01T17:30")) == ["time 0 * * * *"]  # only the run_once trigger runs
    history = RunHistory(root / ".tide")
    skipper = history.runs("skipper")
    assert [r.outcome for r in skipper] == ["missed", "succeeded", "missed"]
    assert "missed 3 scheduled run(s) (2024-01-01 15:00 UTC to 2024-01-01 17:00 UTC)" in skipper[0].message
    assert "skipped, not run (missed: skip)" in skipper[0].message
    assert "(2024-01-01 11:00 UTC to 2024-01-01 13:00 UTC)" in skipper[2].message
    catcher = history.runs("catcher")
    assert [r.outcome for r in catcher] == ["succeeded", "missed", "succeeded", "missed"]
    assert "caught up by one run now (missed: run_once)" in catcher[1].message
    assert fired(node, at("2024-01-01T17:40")) == []  # nothing is caught up twice


def test_two_triggers_firing_at_once_start_one_run(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    sql(root, "CREATE TABLE marks (s VARCHAR)")
    (root / "scripts").mkdir()
    (root / "scripts" / "slow.py").write_text("import time\n\n\ndef main(context):\n    time.sleep(3)\n")
    write(root, "busy", "  - {type: time, cron: '* * * * *'}\n  - {type: time, cron: '*/1 * * * *'}\n",
          "steps:\n  - {type: run_python, file: scripts/slow.py}\n")
    node = Node(root)
    fired(node, at("2024-01-01T10:00:30"))
    assert fired(node, at("2024-01-01T10:01:05")) == ["time * * * * *", "time */1 * * * *"]
    outcomes = sorted(r.outcome for r in RunHistory(root / ".tide").runs("busy"))
    assert outcomes == ["skipped", "succeeded"]


def test_after_scenario_chains_runs(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    sql(root, "CREATE TABLE marks (s VARCHAR)")
    write(root, "first", "  - {type: manual}\n")
    write(root, "second", "  - {type: after_scenario, scenario: first}\n")
    write(root, "on_failure", "  - {type: after_scenario, scenario: first, on: failure}\n")
    node = Node(root)
    assert run_scenario(load_project(root), "first").outcome == "succeeded"
    assert fired(node) == ["after_scenario first (succeeded)"]
    assert fired(node) == []
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        assert sorted(con.execute("SELECT s FROM marks").fetchall()) == [("first",), ("second",)]
    finally:
        con.close()


def test_serve_ticks_until_stopped(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    sql(root, "CREATE TABLE marks (s VARCHAR)")
    write(root, "on_orders", "  - {type: dataset_changed, datasets: [orders], every_s: 0.001}\n")
    write(root, "broken", "  - {type: manual}\n", "steps:\n  - {type: biuld}\n")
    lines: list[str] = []
    node = Node(root, log=lines.append)
    assert "scenario 'broken' is left out: scenarios/broken.yaml:4 at steps[0].type: unknown step type" in lines[0]
    stop = threading.Event()
    server = threading.Thread(target=node.serve, kwargs={"tick_s": 0.05, "stop": stop})
    server.start()
    time_out = 120.0
    deadline = time.monotonic() + time_out
    while RunHistory(root / ".tide").trigger_value("on_orders", "0:dataset_changed") is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sql_done = False
    while not sql_done:  # the node may hold the database for a poll: retry the write
        try:
            sql(root, "INSERT INTO orders VALUES (9, 9.0)")
            sql_done = True
        except duckdb.IOException:
            time.sleep(0.05)
    while not RunHistory(root / ".tide").runs("on_orders"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stop.set()
    server.join(time_out)
    assert not server.is_alive()
    assert RunHistory(root / ".tide").runs("on_orders")[0].outcome == "succeeded"
