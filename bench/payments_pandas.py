"""The demo Flow written by hand twice: in pandas (the baseline of bench/pushdown.py) and in SQL.

Both follow the recipes of ``src/tideflow/cli/demo_project`` exactly, so their outputs can be
compared with what ``tideflow.flow.build`` writes: prepare -> join -> window -> signals (all
row-level, virtual in the Flow) -> card_features (split 80/20 into train and test), and
merchant_daily -> merchant_risk.

The pandas version is written the way an engineer who cares about speed would write it: integer
arithmetic on the timestamps, one ``np.lexsort`` for the window, categoricals for the few-valued
strings, per-card attributes attached after the aggregation instead of grouping on them.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pandas as pd
import pyarrow as pa

# Columns each source contributes to the Flow (only these are pulled into pandas).
NEEDED = {
    "transactions": ["id", "card_id", "merchant_id", "ts", "amount", "currency", "status", "channel"],
    "cards": ["card_id", "country", "card_type", "is_fraud"],
    "merchants": ["merchant_id", "category", "country"],
}
OUTPUTS = ("card_features", "card_features_train", "card_features_test", "merchant_daily", "merchant_risk")

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
SPLIT_SEED = 42
SPLIT_TRAIN = 0.8


def _round_half_away(x: np.ndarray, decimals: int) -> np.ndarray:
    scale = 10.0**decimals
    return np.sign(x) * np.floor(np.abs(x) * scale + 0.5) / scale


def prepare(t: pd.DataFrame) -> pd.DataFrame:
    """``prepare_transactions``: no NULL amount, EUR amounts, date parts, 0/1 flags."""
    t = t[t["amount"].notna()]
    amount = t["amount"].to_numpy()
    currency = t["currency"]  # a NULL or '' currency is EUR: the conversion leaves it as is
    rate = np.select([(currency == "USD").to_numpy(), (currency == "GBP").to_numpy()], [0.92, 1.17], 1.0)
    us = t["ts"].to_numpy().astype("datetime64[us]").astype(np.int64)
    day = us // US_PER_DAY
    hour = (us // US_PER_HOUR) % 24
    dow = (day + 3) % 7 + 1  # ISO: 1970-01-01 was a Thursday (4)
    channel = t["channel"]  # fill_empty(unknown) cannot make a channel 'online'
    return pd.DataFrame({
        "id": t["id"].to_numpy(), "card_id": t["card_id"].to_numpy(), "merchant_id": t["merchant_id"].to_numpy(),
        "ts_us": us, "day": day,
        "amount_eur": _round_half_away(amount * rate, 2),
        "is_weekend": (dow >= 6).astype(np.int64),
        "is_night": (hour < 6).astype(np.int64),
        "is_online": (channel == "online").to_numpy(dtype=bool, na_value=False).astype(np.int64),
        "is_declined": (t["status"].notna() & (t["status"] != "approved")).to_numpy().astype(np.int64),
    })


def card_features(p: pd.DataFrame, cards: pd.DataFrame, merchant_country: pd.Series) -> pd.DataFrame:
    """``card_activity`` (window) -> ``card_signals`` (prepare) -> ``card_features`` (group)."""
    order = np.lexsort((p["id"].to_numpy(), p["ts_us"].to_numpy(), p["card_id"].to_numpy()))
    s = p.take(order).reset_index(drop=True)
    card = s["card_id"].to_numpy()
    first = np.ones(len(s), dtype=bool)  # the first payment of each card (rows are sorted by card)
    first[1:] = card[1:] != card[:-1]
    by_card = s.groupby("card_id", sort=False)
    running = by_card["amount_eur"].cumsum().to_numpy()
    seq = by_card.cumcount().to_numpy() + 1
    ts = s["ts_us"].to_numpy()
    gap = np.empty(len(s))
    gap[1:] = (ts[1:] - ts[:-1]) / 1e6
    gap[first] = np.nan  # lag(ts) is NULL on a card's first payment
    card_country = s["card_id"].map(cards["country"])
    m_country = s["merchant_id"].map(merchant_country)
    cross = (card_country.notna() & m_country.notna() & (card_country.astype(object) != m_country.astype(object)))
    s = s.assign(
        running_amount_eur=running,
        seconds_since_previous=gap,
        is_rapid=(gap < 600).astype(np.int64),  # NaN < 600 is False, like a NULL condition
        is_cross_border=cross.to_numpy().astype(np.int64),
        is_early_decline=((seq <= 3) & (s["is_declined"].to_numpy() == 1)).astype(np.int64),
    )
    g = s.groupby("card_id", sort=False)
    features = g.agg(
        tx_count=("id", "size"), declined_count=("is_declined", "sum"),
        early_declined_count=("is_early_decline", "sum"), amount_eur_sum=("amount_eur", "sum"),
        amount_eur_avg=("amount_eur", "mean"), amount_eur_max=("amount_eur", "max"),
        amount_eur_stddev=("amount_eur", "std"), running_amount_eur_max=("running_amount_eur", "max"),
        weekend_share=("is_weekend", "mean"), night_share=("is_night", "mean"),
        online_share=("is_online", "mean"), cross_border_count=("is_cross_border", "sum"),
        rapid_count=("is_rapid", "sum"), min_gap_s=("seconds_since_previous", "min"),
    )
    pairs = s[["card_id", "merchant_id"]].drop_duplicates()
    features.insert(8, "merchants", pairs.groupby("card_id", sort=False).size())
    attrs = cards.reindex(features.index)
    features.insert(0, "card_country", attrs["country"].astype(object).to_numpy())
    features.insert(0, "card_type", attrs["card_type"].astype(object).to_numpy())
    features.insert(2, "is_fraud", attrs["is_fraud"].astype("Int64").to_numpy())
    return features.reset_index()


def merchant_daily(p: pd.DataFrame, category: pd.Series) -> pd.DataFrame:
    """``merchant_daily``: per merchant and day over every enriched payment."""
    keys = ["merchant_id", "day"]
    daily = (p.groupby(keys, sort=False)
             .agg(tx_count=("id", "size"), declined_count=("is_declined", "sum"),
                  amount_eur_sum=("amount_eur", "sum"), amount_eur_max=("amount_eur", "max")))
    daily["cards"] = p[[*keys, "card_id"]].drop_duplicates().groupby(keys, sort=False).size()
    daily = daily.reset_index()
    daily.insert(1, "merchant_category", daily["merchant_id"].map(category).astype(object))
    daily.insert(2, "tx_date", (daily.pop("day").to_numpy() * US_PER_DAY).astype("datetime64[us]"))
    return daily


def merchant_risk(daily: pd.DataFrame) -> pd.DataFrame:
    """``merchant_risk.sql``: per merchant from its daily totals, the highest decline rate first."""
    risk = (daily.groupby(["merchant_id", "merchant_category"], sort=False)
            .agg(active_days=("tx_count", "size"), tx_count=("tx_count", "sum"),
                 declined_count=("declined_count", "sum"), amount_eur=("amount_eur_sum", "sum"),
                 busiest_day_tx_count=("tx_count", "max"), amount_eur_max=("amount_eur_max", "max"))
            .reset_index())
    risk.insert(5, "decline_rate", risk["declined_count"] / risk["tx_count"])
    return risk.sort_values(["decline_rate", "merchant_id"], ascending=[False, True])


def split_train(card_id: pd.Series) -> np.ndarray:
    """``split_cards``: True for the train side (md5 of 'seed|key', first 8 hex digits < the ratio)."""
    threshold = format(int(SPLIT_TRAIN * 16**8), "08x")
    prefix = f"{SPLIT_SEED}|"
    return np.fromiter((hashlib.md5(f"{prefix}{k}".encode()).hexdigest()[:8] < threshold for k in card_id),
                       dtype=bool, count=len(card_id))


# The parts of the Flow ``run_flow`` times (keys of its ``timings``), in order.
PARTS = ("prepare + join", "card_features + split", "merchant_daily + merchant_risk")


def run_flow(frames: dict[str, pd.DataFrame], timings: dict[str, float] | None = None) -> dict[str, pd.DataFrame]:
    """The whole demo Flow in pandas; ``timings`` (when given) receives the seconds of each of ``PARTS``."""
    clock = time.perf_counter()

    def lap(part: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        if timings is not None:
            timings[part] = now - clock
        clock = now

    cards = frames["cards"].set_index("card_id")
    merchants = frames["merchants"].set_index("merchant_id")
    p = prepare(frames["transactions"])
    p = p[p["merchant_id"].isin(merchants.index)]  # the inner join; the left join to cards keeps every row
    lap(PARTS[0])
    features = card_features(p, cards, merchants["country"])
    train = split_train(features["card_id"])
    lap(PARTS[1])
    daily = merchant_daily(p, merchants["category"])
    risk = merchant_risk(daily)
    lap(PARTS[2])
    return {"card_features": features, "card_features_train": features[train],
            "card_features_test": features[~train], "merchant_daily": daily, "merchant_risk": risk}


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """A result frame as Arrow for writing back (``tx_date`` as a DATE)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if "tx_date" in table.column_names:
        i = table.column_names.index("tx_date")
        table = table.set_column(i, "tx_date", table.column("tx_date").cast(pa.date32()))
    return table


# ---------------------------------------------------------------- hand-written SQL
# What an engineer would write for the same recipes: the joined payments once, the window with
# its real ORDER BY (ts, id is unique) named once (one window pass on PostgreSQL too), conditional
# aggregates instead of 0/1 columns; merchant_daily joins no card (it reads no card column, and
# cards.yaml declares card_id unique, so the Flow drops that join too).

PAYMENTS = """
    SELECT t.id, t.card_id, t.merchant_id, t.ts, t.status, t.channel,
           {r_open}CASE t.currency WHEN 'USD' THEN t.amount * 0.92 WHEN 'GBP' THEN t.amount * 1.17
                                 ELSE t.amount END{r_close} AS amount_eur,
           c.card_type, c.country AS card_country, c.is_fraud, m.category AS merchant_category,
           m.country AS merchant_country
    FROM {transactions} AS t
    LEFT JOIN {cards} AS c ON t.card_id = c.card_id
    JOIN {merchants} AS m ON t.merchant_id = m.merchant_id
    WHERE t.amount IS NOT NULL"""

# The window of card_activity and the aggregates of card_features, the same in the hand-written and
# the tuned SQL (the aggregates but for the names of three columns).
CARD_WINDOW = """           SUM(amount_eur) OVER w AS running_amount_eur,
           LAG(ts) OVER w AS previous_ts,
           ROW_NUMBER() OVER w AS card_tx_seq
    FROM payments
    WINDOW w AS (PARTITION BY card_id ORDER BY ts, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
"""
CARD_AGGREGATES = """COUNT(*) AS tx_count,
COUNT(*) FILTER (WHERE status <> 'approved') AS declined_count,
COUNT(*) FILTER (WHERE status <> 'approved' AND card_tx_seq <= 3) AS early_declined_count,
SUM(amount_eur) AS amount_eur_sum,
AVG(amount_eur) AS amount_eur_avg,
MAX(amount_eur) AS amount_eur_max,
STDDEV_SAMP(amount_eur) AS amount_eur_stddev,
MAX(running_amount_eur) AS running_amount_eur_max,
COUNT(DISTINCT MERCHANT_ID) AS merchants,
AVG(CAST(CASE WHEN EXTRACT(ISODOW FROM ts) >= 6 THEN 1 ELSE 0 END AS DOUBLE PRECISION)) AS weekend_share,
AVG(CAST(CASE WHEN EXTRACT(HOUR FROM ts) < 6 THEN 1 ELSE 0 END AS DOUBLE PRECISION)) AS night_share,
AVG(CAST(CASE WHEN channel = 'online' THEN 1 ELSE 0 END AS DOUBLE PRECISION)) AS online_share,
COUNT(*) FILTER (WHERE CARD_COUNTRY <> MERCHANT_COUNTRY) AS cross_border_count,
COUNT(*) FILTER (WHERE ts - previous_ts < INTERVAL '10 minutes') AS rapid_count,
{epoch_open}MIN(ts - previous_ts){epoch_close} AS min_gap_s
"""


def card_aggregates(indent: str, merchant_id: str, card_country: str, merchant_country: str) -> str:
    """``CARD_AGGREGATES`` with its column names, one a line at ``indent``."""
    text = CARD_AGGREGATES.replace("MERCHANT_ID", merchant_id).replace("CARD_COUNTRY", card_country)
    return "".join(indent + line + "\n" for line in text.replace("MERCHANT_COUNTRY", merchant_country).splitlines())


HAND_SQL = {
    "card_features": """
WITH payments AS (""" + PAYMENTS + """
), activity AS (
    SELECT *,
""" + CARD_WINDOW + """)
SELECT card_id, card_type, card_country, is_fraud,
""" + card_aggregates("       ", "merchant_id", "card_country", "merchant_country") + """FROM activity
GROUP BY card_id, card_type, card_country, is_fraud
""",
    "merchant_daily": """
WITH payments AS (""" + PAYMENTS.replace("\n    LEFT JOIN {cards} AS c ON t.card_id = c.card_id", "").replace(
        "c.card_type, c.country AS card_country, c.is_fraud, ", "") + """
)
SELECT merchant_id, merchant_category, CAST(ts AS DATE) AS tx_date,
       COUNT(*) AS tx_count,
       COUNT(*) FILTER (WHERE status <> 'approved') AS declined_count,
       SUM(amount_eur) AS amount_eur_sum,
       MAX(amount_eur) AS amount_eur_max,
       COUNT(DISTINCT card_id) AS cards
FROM payments
GROUP BY merchant_id, merchant_category, CAST(ts AS DATE)
""",
}

# ---------------------------------------------------------------- tuned SQL: the ceiling
# The whole Flow in SQL written with every rewrite that card_id being unique in cards and merchant_id in
# merchants allows (the Flow, told by `unique:`, makes two of them: merchant_daily joins no card, and the
# groups key on the id alone). So the window sorts only the payment columns (the inner join to merchants
# is a filter on them) and the per-card attributes are attached after the aggregation. What the database
# could reach on this Flow with every such rewrite: bench/pushdown.py runs it as (c), writing the same
# five outputs.

TUNED_PAYMENTS = """
    SELECT t.id, t.card_id, t.merchant_id, t.ts, t.status, t.channel,
           {r_open}CASE t.currency WHEN 'USD' THEN t.amount * 0.92 WHEN 'GBP' THEN t.amount * 1.17
                                 ELSE t.amount END{r_close} AS amount_eur
    FROM {transactions} AS t
    WHERE t.amount IS NOT NULL AND t.merchant_id IN (SELECT merchant_id FROM {merchants})"""

CARD_COLUMNS = ("card_id, card_type, card_country, is_fraud, tx_count, declined_count, early_declined_count, "
                "amount_eur_sum, amount_eur_avg, amount_eur_max, amount_eur_stddev, running_amount_eur_max, "
                "merchants, weekend_share, night_share, online_share, cross_border_count, rapid_count, min_gap_s")
SPLIT_KEY = "SUBSTRING(MD5('" + str(SPLIT_SEED) + "|' || COALESCE(CAST(card_id AS TEXT), '')), 1, 8){collate}"
SPLIT_AT = format(int(SPLIT_TRAIN * 16**8), "08x")

# (output, SQL) in the order they run; each path (card, merchant) is a chain, the two run side by side.
TUNED_SQL = {
    "card": (
        ("card_features", """
WITH payments AS (""" + TUNED_PAYMENTS + """
), activity AS (
    SELECT card_id, merchant_id, ts, status, channel, amount_eur,
""" + CARD_WINDOW + """), per_card AS (
    SELECT a.card_id,
""" + card_aggregates("           ", "a.merchant_id", "c.country", "m.country") + """    FROM activity AS a
    LEFT JOIN (SELECT card_id, country FROM {cards}) AS c ON a.card_id = c.card_id
    JOIN (SELECT merchant_id, country FROM {merchants}) AS m ON a.merchant_id = m.merchant_id
    GROUP BY a.card_id
)
SELECT p.card_id, c.card_type, c.country AS card_country, c.is_fraud, p.tx_count, p.declined_count,
       p.early_declined_count, p.amount_eur_sum, p.amount_eur_avg, p.amount_eur_max, p.amount_eur_stddev,
       p.running_amount_eur_max, p.merchants, p.weekend_share, p.night_share, p.online_share,
       p.cross_border_count, p.rapid_count, p.min_gap_s
FROM per_card AS p LEFT JOIN {cards} AS c ON p.card_id = c.card_id
"""),
        ("card_features_train", "SELECT " + CARD_COLUMNS + " FROM {card_features} WHERE "
         + SPLIT_KEY + " < '" + SPLIT_AT + "'"),
        ("card_features_test", "SELECT " + CARD_COLUMNS + " FROM {card_features} WHERE "
         + SPLIT_KEY + " >= '" + SPLIT_AT + "'"),
    ),
    "merchant": (
        ("merchant_daily", """
WITH payments AS (""" + TUNED_PAYMENTS + """
), daily AS (
    SELECT merchant_id, CAST(ts AS DATE) AS tx_date,
           COUNT(*) AS tx_count,
           COUNT(*) FILTER (WHERE status <> 'approved') AS declined_count,
           SUM(amount_eur) AS amount_eur_sum,
           MAX(amount_eur) AS amount_eur_max,
           COUNT(DISTINCT card_id) AS cards
    FROM payments
    GROUP BY merchant_id, CAST(ts AS DATE)
)
SELECT d.merchant_id, m.category AS merchant_category, d.tx_date, d.tx_count, d.declined_count,
       d.amount_eur_sum, d.amount_eur_max, d.cards
FROM daily AS d JOIN {merchants} AS m ON d.merchant_id = m.merchant_id
"""),
        ("merchant_risk", """
SELECT merchant_id, merchant_category, COUNT(*) AS active_days, SUM(tx_count) AS tx_count,
       SUM(declined_count) AS declined_count,
       CAST(SUM(declined_count) AS DOUBLE PRECISION) / SUM(tx_count) AS decline_rate,
       SUM(amount_eur_sum) AS amount_eur, MAX(tx_count) AS busiest_day_tx_count,
       MAX(amount_eur_max) AS amount_eur_max
FROM {merchant_daily}
GROUP BY merchant_id, merchant_category
ORDER BY decline_rate DESC NULLS LAST, merchant_id
"""),
    ),
}

DIALECT = {
    # Round half away from zero to 2 places: DuckDB's ROUND of a DOUBLE does it; PostgreSQL has
    # no round(double precision, int), so the value goes through NUMERIC.
    # The split compares hex digits bytewise: PostgreSQL's default collation may not.
    "duckdb": {"r_open": "ROUND(", "r_close": ", 2)", "epoch_open": "EPOCH(", "epoch_close": ")", "collate": ""},
    "postgres": {"r_open": "CAST(ROUND(CAST(", "r_close": " AS NUMERIC), 2) AS DOUBLE PRECISION)",
                 "epoch_open": "CAST(EXTRACT(EPOCH FROM ", "epoch_close": ") AS DOUBLE PRECISION)",
                 "collate": ' COLLATE "C"'},
}


def hand_sql(recipe: str, dialect: str, qualify: dict[str, str]) -> str:
    """The hand-written SQL of ``recipe`` for ``dialect``; ``qualify`` maps table -> qualified name."""
    return HAND_SQL[recipe].format(**DIALECT[dialect], **qualify)


def tuned_sql(dialect: str, qualify: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """The tuned SQL of the whole Flow per path, as (output, SQL) for ``dialect``; ``qualify`` maps each
    source and output name to the qualified table the statements read and write."""
    return {path: [(out, sql.format(**DIALECT[dialect], **qualify)) for out, sql in chain]
            for path, chain in TUNED_SQL.items()}
