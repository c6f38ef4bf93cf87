"""Pure parts: specs (located errors), input validation, traffic split, read-only SQL, docs examples."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from tideflow.errors import ProjectError
from tideflow.project.yamlfile import loads
from tideflow.serving.errors import InvalidInput, PayloadTooLarge
from tideflow.serving.inputs import validate_records
from tideflow.serving.runners import compile_read_only
from tideflow.serving.specs import load_service, parse_service
from tideflow.serving.traffic import TrafficSplit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api-node.md"


def test_spec_errors_are_located_and_suggest_names(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "s.yaml").write_text("endpoints:\n  - name: a\n    type: predction\n    model: m\n")
    with pytest.raises(ProjectError, match=r"api/s.yaml:3 .*did you mean 'prediction'"):
        load_service(tmp_path, "s")
    (tmp_path / "api" / "s.yaml").write_text("endpoints:\n  - name: a\n    type: prediction\n    modle: m\n")
    with pytest.raises(ProjectError, match=r"unknown key 'modle'"):
        load_service(tmp_path, "s")
    with pytest.raises(ProjectError, match="no API service 'x'"):
        load_service(tmp_path, "x")


def test_pinned_and_split_versions_exclude_each_other() -> None:
    data = {"endpoints": [{"name": "a", "type": "prediction", "model": "m", "version": 1,
                           "versions": [{"version": 2}]}]}
    with pytest.raises(ProjectError, match="either 'version'"):
        parse_service(data, shown="api/s.yaml", name="s")


def test_every_yaml_example_in_the_docs_is_a_valid_service() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        spec = parse_service(loads(block), shown="docs/api-node.md", name="example")
        assert spec.endpoints


def test_validation_names_the_record_and_field() -> None:
    schema = {"a": "double", "b": "integer", "when": "date"}
    ok = validate_records([{"a": 1, "b": 2.0, "when": "2024-01-02"}], schema, max_records=5)
    assert ok == [{"a": 1, "b": 2, "when": "2024-01-02"}]
    with pytest.raises(InvalidInput, match=r"^record 1, field 'b': expected an integer"):
        validate_records([{"a": 1, "b": 1, "when": None}, {"a": 1, "b": True, "when": None}], schema, max_records=5)
    with pytest.raises(InvalidInput, match=r"field 'when': expected an ISO date"):
        validate_records([{"a": 1, "b": 1, "when": "yesterday"}], schema, max_records=5)
    with pytest.raises(PayloadTooLarge):
        validate_records([{}] * 6, schema, max_records=5)
    routed = validate_records([{"a": 1, "b": 1, "when": None, "card": "x"}], schema, max_records=5, routing="card")
    assert routed == [{"a": 1, "b": 1, "when": None}]


def test_traffic_split_follows_weights_and_sticky_values_are_stable() -> None:
    split = TrafficSplit.of(["1", "2", "3"], [70, 20, 10])
    rng = random.Random(0)
    counts = Counter(split.choose(rng=rng) for _ in range(20_000))
    for label, share in {"1": 0.7, "2": 0.2, "3": 0.1}.items():
        assert abs(counts[label] / 20_000 - share) < 0.015
    assert all(split.choose(f"user-{i}") == split.choose(f"user-{i}") for i in range(100))
    sticky = Counter(split.choose(f"user-{i}") for i in range(20_000))
    assert abs(sticky["1"] / 20_000 - 0.7) < 0.015  # sticky keys still follow the weights
    assert TrafficSplit.of(["a", "b"], [0, 1]).choose(rng=rng) == "b"


@pytest.mark.parametrize("query", [
    "DELETE FROM t WHERE a = :a",
    "SELECT 1 FROM t WHERE a = :a; DROP TABLE t",
    "CREATE TABLE x AS SELECT * FROM t WHERE a = :a",
    "SELECT * INTO x FROM t WHERE a = :a",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d WHERE a = :a",
])
def test_only_one_read_only_select_is_accepted(query: str) -> None:
    with pytest.raises(ProjectError, match=r"SELECT|statement|parse"):
        compile_read_only(query, "duckdb", {"a": "string"})


def test_a_query_with_an_unclosed_quote_says_where_as_the_project_loader_does() -> None:
    from tideflow.automation.triggers import check_read_only

    query = "SELECT * FROM t WHERE a = 'x"
    expected = "syntax error in the duckdb query: unclosed single quote at column 27: expected a closing '"
    with pytest.raises(ProjectError, match=f"^{expected}$"):
        compile_read_only(query, "duckdb", {})
    assert check_read_only(query, "duckdb") == expected


def test_named_parameters_become_driver_placeholders() -> None:
    sql, order = compile_read_only("SELECT * FROM t WHERE a = :a AND b > :b OR a = :a", "postgres",
                                   {"a": "string", "b": "double"})
    assert sql.count("%s") == 3 and order == ["a", "b", "a"]
    with pytest.raises(ProjectError, match="not declared"):
        compile_read_only("SELECT * FROM t WHERE a = :z", "duckdb", {})
    with pytest.raises(ProjectError, match="does not use :b"):
        compile_read_only("SELECT * FROM t WHERE a = :a", "duckdb", {"a": "string", "b": "double"})
