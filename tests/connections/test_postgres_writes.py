"""Outputs the memory engine writes to PostgreSQL go as CSV through COPY: every value must come back as it
was, the ones CSV could confuse first (NULL and the empty string, quotes, separators, line breaks, '\\N',
NaN, infinities, -0.0, the smallest double, the extreme integers and timestamps)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa
import pytest

from tideflow.connections.postgres import PostgresSql

from ..conftest import PG_DSN

EDGE = pa.table({
    "s": pa.array(["", None, "a,b", 'q"x', "line\nbreak\r\n", "é ✓", "\\N", "NULL"]),
    "f": pa.array([float("nan"), float("inf"), -0.0, None, 0.1 + 0.2, 1e300, -float("inf"), 5e-324]),
    "i": pa.array([1, None, -2**63, 2**63 - 1, 0, 5, 6, 7]),
    "small": pa.array([1, 2, None, 4, 5, 6, 7, 8], pa.int32()),
    "k": pa.array(["a", "b", None, "a", "b", "a", "a", ""]).dictionary_encode(),
    "b": pa.array([True, False, None, True, False, True, True, False]),
    "d": pa.array([dt.date(1, 1, 1), dt.date(9999, 12, 31), None, dt.date(2024, 2, 29)] * 2),
    "t": pa.array([dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999), None,
                   dt.datetime(2024, 1, 1, 1, 2, 3, 4)] * 2, pa.timestamp("us")),
    "tz": pa.array([dt.datetime(2024, 1, 1, 1, 2, 3, 4, tzinfo=dt.UTC)] * 8, pa.timestamp("us", tz="UTC")),
})


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        signs = math.copysign(1, got) == math.copysign(1, want)
        return (math.isnan(got) and math.isnan(want)) or (got == want and signs)
    if isinstance(want, dt.datetime) and want.tzinfo is not None:
        return got == want.replace(tzinfo=None)  # stored as a timestamp without time zone, in UTC
    return bool(got == want) and type(got) is type(want)


def test_every_value_comes_back_as_it_was_written(pg_schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as con:
        sql = PostgresSql("pg", con, pg_schema)
        # in two batches: each is one CSV chunk of the COPY
        assert sql.write_batches("edge", EDGE.schema, EDGE.to_batches(max_chunksize=5)) == 8
        got = sql.fetch_arrow(f'SELECT * FROM "{pg_schema}".edge').to_pylist()
    assert len(got) == 8
    for n, (row, want) in enumerate(zip(got, EDGE.to_pylist(), strict=True)):
        for column, value in want.items():
            assert _same(row[column], value), (n, column, row[column], value)


@pytest.mark.parametrize("bad", [pa.array([2**64 - 1], pa.uint64())])
def test_a_value_postgres_cannot_hold_fails_and_leaves_no_table(pg_schema: str, bad: pa.Array) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as con:
        sql = PostgresSql("pg", con, pg_schema)
        with pytest.raises(pa.ArrowInvalid):
            sql.write_arrow("bad", pa.table({"x": bad}))
        assert sql.table_schema("bad") is None
        left = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                           (pg_schema,)).fetchone()
        assert left == (0,)  # the temporary table is gone too
