"""Scenario files: located errors with the nearest name, checks against the project, and the docs' examples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tideflow.automation.scenarios import BuildStep, WebhookReporter
from tideflow.automation.scenarios_loading import load_scenario, parse_scenario
from tideflow.errors import ProjectError
from tideflow.project import load_project
from tideflow.project.yamlfile import loads

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def parse(text: str, name: str = "s") -> object:
    return parse_scenario(loads(text), shown=f"scenarios/{name}.yaml", name=name).spec


def parse_located(tmp_path: Path, text: str) -> object:
    from tideflow.project.yamlfile import read_yaml

    path = tmp_path / "s.yaml"
    path.write_text(text)
    data, lines = read_yaml(path, "scenarios/s.yaml")
    return parse_scenario(data, shown="scenarios/s.yaml", name="s", lines=lines).spec


@pytest.mark.parametrize(("text", "message"), [
    ("steps:\n  - type: biuld\n",
     r"scenarios/s.yaml:2 at steps\[0\].type: unknown step type 'biuld': did you mean 'build'\?"),
    ("steps:\n  - type: build\n    datasest: [a]\n",
     r"scenarios/s.yaml:3 at steps\[0\].datasest: unknown key 'datasest': did you mean 'datasets'\?"),
    ("triggers:\n  - type: time\n    cron: '0 25 * * *'\nsteps:\n  - type: build\n",
     r"scenarios/s.yaml:3 at triggers\[0\].cron: invalid cron expression: hour: expected a number 0-23, got 25"),
    ("triggers:\n  - type: tiem\n    cron: '@daily'\nsteps:\n  - type: build\n",
     r"unknown trigger type 'tiem': did you mean 'time'\?"),
    ("triggers:\n  - {type: time, cron: '@daily', missed: catch_up}\nsteps:\n  - type: build\n",
     r"triggers\[0\].missed.*expected one of 'skip' or 'run_once', got 'catch_up'"),
    ("steps:\n  - type: build\n    run_if: on_failure\n",
     r"steps\[0\].run_if.*expected one of 'success', 'failure' or 'always', got 'on_failure'"),
    ("steps:\n  - type: build\n    retries: -1\n", r"steps\[0\].retries.*greater than or equal to 0"),
    ("steps: []\n", r"at steps: .*at least 1 item"),
    ("stpes:\n  - type: build\n", r"unknown key 'stpes': did you mean 'steps'\?"),
    ("steps:\n  - {name: a, type: build}\n  - {name: a, type: build}\n",
     r"scenarios/s.yaml:3 at steps\[1\].name: step name 'a' is used twice"),
    ("steps:\n  - {type: send_message, reporter: teem, text: hi}\nreporters:\n  - {name: team, type: log_file}\n",
     r"steps\[0\].reporter: unknown reporter 'teem': did you mean 'team'\?"),
    ("steps:\n  - {type: run_sql, connection: warehouse, sql: 'SELECT ${params.dya}'}\n"
     "triggers:\n  - {type: manual, params: {day: {type: str}}}\n",
     r"steps\[0\].sql: unknown name \$\{params.dya\}: did you mean 'params.day'\?"),
    ("triggers:\n  - {type: manual, params: {n: {type: int}}}\n  - {type: time, cron: '@daily'}\n"
     "steps:\n  - type: build\n",
     r"triggers\[0\].params.n: parameter 'n' needs a default: the scenario also has automatic triggers"),
    ("triggers:\n  - {type: manual, params: {n: {type: int, default: many}}}\nsteps:\n  - type: build\n",
     r"triggers\[0\].params.n.*expected int, got 'many'"),
    ("steps:\n  - type: build\nreporters:\n  - {name: w, type: webhook}\n",
     r"reporters\[0\].*a webhook needs exactly one of 'url' or 'url_env'"),
    ("steps:\n  - type: build\nreporters:\n  - {name: w, type: webhook, url: ftp://x}\n",
     r"expected an http:// or https:// url, got 'ftp://x'"),
    ("triggers:\n  - {type: time, cron: '@daily', timezone: Mars/Olympus}\nsteps:\n  - type: build\n",
     r"unknown time zone 'Mars/Olympus'"),
    ("triggers:\n  - {type: after_scenario, scenario: s}\nsteps:\n  - type: build\n",
     r"a scenario cannot trigger itself"),
    ("steps:\n  - type: build\n    when: {metric: record_count, op: '>', value: 1}\n",
     r"steps\[0\].when.*give 'dataset' or 'model' in 'metric'"),
    ("steps:\n  - type: build\n    when: {metric: {model: fraud, metric: psi}, op: '>', value: 1}\n",
     r"steps\[0\].when.metric.*drift metric 'psi' needs 'column'"),
    ("steps:\n  - type: build\n    when: {metric: {model: fraud, metric: alarm}, op: '=>', value: 1}\n",
     r"steps\[0\].when.op.*got '=>'"),
    ("steps:\n  - type: build\n    when: {metric: {model: fraud, metric: alarm}, op: '>', valeu: 1}\n",
     r"steps\[0\].when.valeu \(line 3\): unknown key 'valeu': did you mean 'value'\?"),
])
def test_spec_errors_are_located_and_suggest_names(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ProjectError, match=message):
        parse_located(tmp_path, text)


def test_defaults() -> None:
    spec = parse("steps:\n  - type: build\n  - {type: build, retries: 2, backoff_s: 3}\n")
    first, second = spec.steps  # type: ignore[attr-defined]
    assert isinstance(first, BuildStep) and first.name == "1-build" and first.run_if == "success"
    assert first.mode == "smart" and first.timeout_s is None
    assert [second.backoff(n) for n in (1, 2, 3)] == [3.0, 6.0, 12.0]


def project(tmp_path: Path) -> Path:
    for folder in ("datasets", "scenarios", "models"):
        (tmp_path / folder).mkdir()
    (tmp_path / "tideflow.yaml").write_text("name: t\nconnections:\n  warehouse: {type: duckdb}\n"
                                            "  raw: {type: files, root: data}\n")
    (tmp_path / "datasets" / "orders.yaml").write_text("table: orders\n")
    return tmp_path


@pytest.mark.parametrize(("text", "message"), [
    ("steps:\n  - {type: build, datasets: [ordres]}\n",
     r"scenarios/s.yaml:2 at steps\[0\].datasets\[0\]: unknown dataset 'ordres': did you mean 'orders'\?"),
    ("steps:\n  - {type: run_sql, connection: warehose, sql: SELECT 1}\n",
     r"unknown connection 'warehose': did you mean 'warehouse'\?"),
    ("steps:\n  - {type: run_sql, connection: raw, sql: SELECT 1}\n",
     r"connection 'raw' is files: expected a SQL connection"),
    ("triggers:\n  - {type: sql_changed, connection: warehouse, sql: DELETE FROM orders}\nsteps:\n  - type: build\n",
     r"triggers\[0\].sql: expected a read-only SELECT, got a DELETE statement"),
    ("triggers:\n  - {type: sql_changed, connection: warehouse, sql: 'SELECT 1; SELECT 2'}\nsteps:\n  - type: build\n",
     r"expected exactly one SELECT statement, got 2"),
    ("triggers:\n  - {type: sql_changed, connection: warehouse, sql: SELECT * INTO copy FROM orders}\n"
     "steps:\n  - type: build\n", r"expected a read-only SELECT, found INTO inside it"),
    ("triggers:\n  - {type: dataset_changed, datasets: orderz}\nsteps:\n  - type: build\n",
     r"triggers\[0\].datasets\[0\]: unknown dataset 'orderz': did you mean 'orders'\?"),
    ("triggers:\n  - {type: after_scenario, scenario: nightyl}\nsteps:\n  - type: build\n",
     r"unknown scenario 'nightyl': did you mean 'nightly'\?"),
    ("steps:\n  - {type: train, model: frud}\n", r"unknown model 'frud': did you mean 'fraud'\?"),
    ("steps:\n  - {type: refresh_api, service: fraud}\n", r"unknown API service 'fraud'"),
    ("steps:\n  - {type: score, recipe: clean}\n", r"steps\[0\].recipe: unknown recipe 'clean'"),
    ("steps:\n  - type: train\n    model: fraud\n    when: {metric: {dataset: ordres, metric: record_count}, "
     "op: '<', value: 1}\n", r"steps\[0\].when.metric.dataset: unknown dataset 'ordres': did you mean 'orders'\?"),
    ("steps:\n  - {type: run_python, file: scripts/nope.py}\n", r"steps\[0\].file: file scripts/nope.py not found"),
    ("steps:\n  - {type: run_python, file: ../outside.py}\n", r"expected a file inside the project"),
])
def test_references_are_checked_against_the_project(tmp_path: Path, text: str, message: str) -> None:
    root = project(tmp_path)
    (root / "models" / "fraud.yaml").write_text("input: orders\n")
    (root / "scenarios" / "nightly.yaml").write_text("steps:\n  - type: build\n")
    (root / "scenarios" / "s.yaml").write_text(text)
    with pytest.raises(ProjectError, match=message):
        load_scenario(load_project(root), "s")


def test_unknown_scenario_suggests_the_nearest(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "scenarios" / "nightly.yaml").write_text("steps:\n  - type: build\n")
    with pytest.raises(ProjectError, match=r"unknown scenario 'nigthly': did you mean 'nightly'\? "
                                           r"\(scenarios/ holds: nightly\)"):
        load_scenario(load_project(root), "nigthly")


def doc_examples() -> list[tuple[str, str]]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)
    out = []
    for block in blocks:
        first = block.splitlines()[0]
        match = re.fullmatch(r"# scenarios/(\w+)\.yaml", first)
        assert match, f"every YAML example in docs/scenarios.md starts with '# scenarios/<name>.yaml': {first!r}"
        out.append((match.group(1), block))
    return out


def test_docs_have_examples() -> None:
    assert len(doc_examples()) >= 3


@pytest.mark.parametrize(("name", "text"), doc_examples())
def test_the_docs_examples_are_valid_scenarios(name: str, text: str) -> None:
    spec = parse(text, name)
    assert spec.steps  # type: ignore[attr-defined]
    for reporter in spec.reporters:  # type: ignore[attr-defined]
        if isinstance(reporter, WebhookReporter):
            assert reporter.url_env or (reporter.url or "").startswith("https://")
