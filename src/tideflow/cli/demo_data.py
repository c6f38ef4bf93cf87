"""Deterministic generator of the card-payments demo data (``transactions``, ``cards``, ``merchants``).

``generate_tables(rows, seed)`` returns Arrow tables; ``generate(con_or_path, rows, seed)`` loads
them into a DuckDB database (a path or an open connection), one table per source dataset. The same
``rows`` and ``seed`` always give the same bytes: everything comes from ``numpy.random.default_rng``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SOURCES = ("transactions", "cards", "merchants")

COUNTRIES = ["FR", "DE", "ES", "IT", "NL", "BE", "GB", "US", "PT", "IE"]
CARD_TYPES = ["debit", "credit", "prepaid"]
CATEGORIES = ["grocery", "restaurants", "travel", "fuel", "electronics", "fashion", "online_services",
              "health", "entertainment", "utilities"]
CURRENCIES = ["EUR", "USD", "GBP"]
STATUSES = ["approved", "declined", "reversed"]
CHANNELS = ["pos", "contactless", "online", "atm"]

START_US = 1_735_689_600_000_000  # 2025-01-01 00:00:00 UTC in microseconds
PERIOD_S = 90 * 24 * 3600  # the transactions span 90 days


def sizes(rows: int) -> tuple[int, int]:
    """``(cards, merchants)`` for ``rows`` transactions."""
    return max(100, rows // 20), max(20, rows // 500)


def _pick(rng: np.random.Generator, vocab: list[str], n: int, p: list[float] | None = None) -> pa.Array:
    idx = rng.choice(len(vocab), size=n, p=p)
    return pc.take(pa.array(vocab, pa.string()), pa.array(idx, pa.int32()))


def _with_nulls(rng: np.random.Generator, arr: pa.Array, rate: float) -> pa.Array:
    mask = pa.array(rng.random(len(arr)) < rate)
    return pc.if_else(mask, pa.scalar(None, arr.type), arr)


def generate_tables(rows: int, seed: int = 7) -> dict[str, pa.Table]:
    """The three source tables for ``rows`` transactions, deterministic for ``(rows, seed)``."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    rng = np.random.default_rng(seed)
    n_cards, n_merchants = sizes(rows)

    merchants = pa.table({
        "merchant_id": pa.array(np.arange(1, n_merchants + 1, dtype=np.int64)),
        "name": pa.array([f"Merchant {i:05d}" for i in range(1, n_merchants + 1)], pa.string()),
        "category": _pick(rng, CATEGORIES, n_merchants),
        "country": _pick(rng, COUNTRIES, n_merchants,
                         [0.25, 0.2, 0.12, 0.1, 0.08, 0.06, 0.07, 0.06, 0.03, 0.03]),
    })

    issued_days = rng.integers(16_436, 20_089, size=n_cards)  # 2015-01-01 .. 2024-12-31
    cards = pa.table({
        "card_id": pa.array(np.arange(1, n_cards + 1, dtype=np.int64)),
        "customer_id": pa.array(rng.integers(1, max(2, int(n_cards * 0.8)), size=n_cards, dtype=np.int64)),
        "country": _pick(rng, COUNTRIES, n_cards, [0.3, 0.2, 0.1, 0.1, 0.08, 0.06, 0.06, 0.04, 0.03, 0.03]),
        "issued": pa.array(issued_days.astype(np.int32), pa.date32()),
        "card_type": _pick(rng, CARD_TYPES, n_cards, [0.6, 0.35, 0.05]),
    })

    # About 0.1% of the transactions use a card that is not in `cards` (the join keeps them).
    card_id = rng.integers(1, n_cards + 1, size=rows, dtype=np.int64)
    unknown = rng.random(rows) < 0.001
    card_id[unknown] += n_cards
    merchant_id = rng.zipf(1.3, size=rows) % n_merchants + 1  # a few big merchants, a long tail
    ts_us = START_US + np.sort(rng.integers(0, PERIOD_S, size=rows)) * 1_000_000
    amount = np.round(rng.lognormal(mean=3.2, sigma=1.0, size=rows), 2)
    refund = rng.random(rows) < 0.02
    amount[refund] = -amount[refund]
    transactions = pa.table({
        "id": pa.array(np.arange(1, rows + 1, dtype=np.int64)),
        "card_id": pa.array(card_id),
        "merchant_id": pa.array(merchant_id.astype(np.int64)),
        "ts": pa.array(ts_us, pa.timestamp("us")),
        "amount": _with_nulls(rng, pa.array(amount, pa.float64()), 0.002),
        "currency": _with_nulls(rng, _pick(rng, CURRENCIES, rows, [0.75, 0.17, 0.08]), 0.01),
        "status": _pick(rng, STATUSES, rows, [0.92, 0.07, 0.01]),
        "channel": _with_nulls(rng, _pick(rng, CHANNELS, rows, [0.35, 0.35, 0.27, 0.03]), 0.01),
    })
    cards, transactions = _plant_fraud(cards, transactions, np.random.default_rng([seed, 1]))
    return {"transactions": transactions, "cards": cards, "merchants": merchants}


FRAUD_RATE = 0.03  # share of compromised cards


def _plant_fraud(cards: pa.Table, transactions: pa.Table, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """Mark ~3% of the cards compromised (``cards.is_fraud`` 0/1) and make some of their payments look it.

    A compromised card's payment is, each with its own probability, declined, online, at night, or
    larger than usual: signals the card features pick up, noisy enough that no single one gives the
    fraud away. Its own generator (``[seed, 1]``), so the other columns are those of the seed alone.
    """
    n_cards = cards.num_rows
    fraud = rng.random(n_cards) < FRAUD_RATE
    card_id = transactions.column("card_id").to_numpy()
    known = card_id <= n_cards
    hit = np.zeros(len(card_id), dtype=bool)
    hit[known] = fraud[card_id[known] - 1]
    n = len(card_id)

    def touched(p: float) -> np.ndarray:
        return hit & (rng.random(n) < p)

    status = pc.if_else(pa.array(touched(0.18)), pa.scalar("declined"), transactions.column("status"))
    channel = pc.if_else(pa.array(touched(0.30)), pa.scalar("online"), transactions.column("channel"))
    ts_us = transactions.column("ts").cast(pa.int64()).to_numpy().copy()
    night = touched(0.20)
    day_start = ts_us[night] - ts_us[night] % (24 * 3_600_000_000)
    ts_us[night] = day_start + rng.integers(0, 6 * 3600, size=int(night.sum())) * 1_000_000
    amount = transactions.column("amount")
    larger = pa.array(touched(0.25))
    amount = pc.if_else(larger, pc.round(pc.multiply(amount, pa.scalar(3.0)), 2), amount)
    transactions = (transactions
                    .set_column(transactions.schema.get_field_index("status"), "status", status)
                    .set_column(transactions.schema.get_field_index("channel"), "channel", channel)
                    .set_column(transactions.schema.get_field_index("ts"), "ts", pa.array(ts_us, pa.timestamp("us")))
                    .set_column(transactions.schema.get_field_index("amount"), "amount", amount))
    cards = cards.append_column("is_fraud", pa.array(fraud.astype(np.int64)))
    return cards, transactions


def tables_digest(tables: dict[str, pa.Table]) -> str:
    """A sha256 of the tables' Arrow IPC bytes, in name order: equal digests mean equal data."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, tables[name].schema) as writer:
            writer.write_table(tables[name])
        digest.update(name.encode() + b"\0" + sink.getvalue().to_pybytes())
    return digest.hexdigest()


def load_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table], schema: str = "main") -> None:
    """Create (or replace) one DuckDB table per Arrow table, in ``schema``."""
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    for name, table in tables.items():
        view = f"_tide_demo_{name}"
        con.register(view, table)
        try:
            con.execute(f'CREATE OR REPLACE TABLE "{schema}"."{name}" AS SELECT * FROM "{view}"')
        finally:
            con.unregister(view)


def generate(con_or_path: duckdb.DuckDBPyConnection | str | Path, rows: int, seed: int = 7) -> dict[str, int]:
    """Generate the demo sources and load them into DuckDB; return rows per table.

    ``con_or_path`` is an open DuckDB connection or the path of a database file (created with its
    folder when missing, and closed afterwards).
    """
    tables = generate_tables(rows, seed)
    if isinstance(con_or_path, duckdb.DuckDBPyConnection):
        load_tables(con_or_path, tables)
    else:
        path = Path(con_or_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path))
        try:
            load_tables(con, tables)
        finally:
            con.close()
    return {name: t.num_rows for name, t in tables.items()}
