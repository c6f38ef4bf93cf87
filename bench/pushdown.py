"""Pushdown bench: the demo Flow built inside the database vs the same logic in pandas.

For each engine (DuckDB file, PostgreSQL schema ``tide_bench``) and each size, in one run:

(a) ``tideflow.flow.build(engine="sql", mode="forced")``: the database does the work;
(b) the baseline: pull only the needed columns of the sources into pandas, run the same Flow by
    hand (``bench/payments_pandas.py``), write the five stored outputs back;
(c) the ceiling: hand-tuned SQL that makes every rewrite the unique card_id and merchant_id allow
    (the joins after the window and the groups) writes the same five outputs in the database.

The demo Flow keeps its row-level steps virtual (prepare -> join -> window -> signals run as CTEs)
and stores only aggregates, as a real analytics Flow does. The bench prints seconds, rows out,
bytes moved through Python and (b)'s time over each, checks that (a), (b) and (c) wrote the same row
counts and column sums, and times the generated SQL of ``card_features`` (the whole fused CTE chain) and
``merchant_daily`` against hand-written SQL on the same engine (target: within 1.1x). The tables
go into bench/RESULTS.md.

    .venv/bin/python bench/pushdown.py --rows 1000000,10000000 --engines duckdb,postgres
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
from machine import machine
from payments_pandas import NEEDED, OUTPUTS, PARTS, hand_sql, run_flow, to_arrow, tuned_sql
from rich.console import Console
from rich.table import Table

from tideflow.cli.demo_data import generate_tables, load_tables
from tideflow.cli.init_cmd import copy_tree, package_tree
from tideflow.flow import build, recipe_sql
from tideflow.project import load_project

PG = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"}
PG_SCHEMA = "tide_bench"
# Sorts (the window) and hash aggregates of 10M rows spill to disk with the server's 4MB default.
PG_WORK_MEM = "256MB"
SQL_CHECKS = ("card_features", "merchant_daily")
RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Pushdown: in-database Flow vs pandas"
PG_TYPES = {"int64": "BIGINT", "double": "DOUBLE PRECISION", "string": "TEXT", "large_string": "TEXT",
            "timestamp[us]": "TIMESTAMP", "date32[day]": "DATE", "bool": "BOOLEAN"}

console = Console(highlight=False, width=120)
# Column sums per output: (a) and (b) must agree on them, not only on row counts.
CARD_CHECKS = ("tx_count", "declined_count", "early_declined_count", "amount_eur_sum", "amount_eur_stddev",
               "running_amount_eur_max", "merchants", "weekend_share", "night_share", "online_share",
               "cross_border_count", "rapid_count", "min_gap_s")
VALUE_CHECKS = {"card_features": CARD_CHECKS, "card_features_train": ("tx_count", "amount_eur_sum"),
                "card_features_test": ("tx_count", "amount_eur_sum"),
                "merchant_daily": ("tx_count", "declined_count", "amount_eur_sum", "amount_eur_max", "cards"),
                "merchant_risk": ("active_days", "decline_rate", "amount_eur", "busiest_day_tx_count")}
T0 = time.perf_counter()


def log(message: str) -> None:
    console.print(f"[dim]{time.perf_counter() - T0:7.1f}s[/] {message}", soft_wrap=True)


# ---------------------------------------------------------------- engines


class Duck:
    name = "duckdb"
    parallel = False  # (a) builds independent recipes one after the other here: so does (c)

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / ".tide" / "warehouse.duckdb"

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.path))

    def project_yaml(self, text: str) -> str:
        return text

    def q(self, table: str) -> str:
        return f'"main"."{table}"'

    def load(self, tables: dict[str, pa.Table]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as con:
            load_tables(con, tables)

    def pull(self, sql: str) -> pa.Table:
        with self.connect() as con:
            return con.sql(sql).to_arrow_table()

    def push(self, name: str, table: pa.Table) -> None:
        with self.connect() as con:
            con.register("_bench_push", table)
            con.execute(f"CREATE OR REPLACE TABLE {self.q(name)} AS SELECT * FROM _bench_push")
            con.unregister("_bench_push")

    def scalar(self, sql: str) -> object:
        with self.connect() as con:
            return con.execute(sql).fetchall()[0][0]

    def session(self, con: duckdb.DuckDBPyConnection) -> None:
        """Settings a connection of the Flow has (none on DuckDB)."""

    def timed_ctas(self, sql: str) -> float:
        with self.connect() as con:
            con.execute("DROP TABLE IF EXISTS _bench_ctas")
            started = time.perf_counter()
            con.execute(f"CREATE TABLE _bench_ctas AS {sql}")
            seconds = time.perf_counter() - started
            con.execute("DROP TABLE _bench_ctas")
            return seconds

    def drop(self) -> None:
        """The DuckDB file goes with the work directory."""


class Postgres(Duck):
    name = "postgres"
    parallel = True  # (a) runs independent recipes side by side, one connection each: so does (c)

    def connect(self):  # type: ignore[override]
        import psycopg

        return psycopg.connect(**PG, autocommit=True)

    def project_yaml(self, text: str) -> str:
        start = text.index("connections:")
        end = text.index("defaults:")
        pg = (f"connections:\n  warehouse:\n    type: postgres\n    host: {PG['host']}\n"
              f"    port: {PG['port']}\n    dbname: {PG['dbname']}\n    user: {PG['user']}\n"
              f"    schema: {PG_SCHEMA}\n    settings: {{work_mem: {PG_WORK_MEM}}}\n")
        return text[:start] + pg + text[end:]

    def q(self, table: str) -> str:
        return f'"{PG_SCHEMA}"."{table}"'

    def load(self, tables: dict[str, pa.Table]) -> None:
        with self.connect() as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
            con.execute(f'CREATE SCHEMA "{PG_SCHEMA}"')
        for name, table in tables.items():
            self.push(name, table)
        with self.connect() as con:
            for name in tables:
                con.execute(f"ANALYZE {self.q(name)}")

    def pull(self, sql: str) -> pa.Table:
        buf = io.BytesIO()
        with self.connect() as con, con.cursor().copy(f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER)") as copy:
            for chunk in copy:
                buf.write(chunk)
        buf.seek(0)
        return pacsv.read_csv(buf, convert_options=pacsv.ConvertOptions(
            strings_can_be_null=True, quoted_strings_can_be_null=False,
            column_types={"ts": pa.timestamp("us")}))

    def push(self, name: str, table: pa.Table) -> None:
        cols = ", ".join(f'"{f.name}" {PG_TYPES[str(f.type)]}' for f in table.schema)
        with self.connect() as con:
            con.execute(f"DROP TABLE IF EXISTS {self.q(name)}")
            con.execute(f"CREATE TABLE {self.q(name)} ({cols})")
            options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
            with con.cursor().copy(f"COPY {self.q(name)} FROM STDIN (FORMAT csv)") as copy:
                for batch in table.to_batches(max_chunksize=250_000):
                    sink = io.BytesIO()
                    pacsv.write_csv(pa.Table.from_batches([batch]), sink, options)
                    copy.write(sink.getvalue())

    def session(self, con) -> None:  # type: ignore[no-untyped-def,override]
        con.execute(f"SET search_path TO {PG_SCHEMA}")
        con.execute(f"SET work_mem TO '{PG_WORK_MEM}'")  # what the Flow's connection sets

    def timed_ctas(self, sql: str) -> float:
        with self.connect() as con:
            self.session(con)
            con.execute("DROP TABLE IF EXISTS _bench_ctas")
            started = time.perf_counter()
            con.execute(f"CREATE TABLE _bench_ctas AS {sql}")
            seconds = time.perf_counter() - started
            con.execute("DROP TABLE _bench_ctas")
            return seconds

    def drop(self) -> None:
        with self.connect() as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')


# ---------------------------------------------------------------- the two ways


def in_database(engine: Duck) -> dict[str, object]:
    project = load_project(engine.root)
    started = time.perf_counter()
    result = build(project, mode="forced", engine="sql",
                   on_event=lambda e: log(f"  (a) {e.kind} {e.recipe} {e.engine} "
                                          f"{'' if e.kind == 'started' else f'{e.seconds:.2f}s'}"))
    seconds = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"build failed: {[(r.recipe, r.error) for r in result.failed]}")
    rows = {out: n for run in result.runs for out, n in run.rows.items()}
    return {"seconds": seconds, "rows": rows, "bytes": sum(r.bytes_through_python for r in result.runs),
            "runs": result.runs}


def in_pandas(engine: Duck) -> dict[str, object]:
    started = time.perf_counter()
    pulled = 0
    frames = {}
    for name, cols in NEEDED.items():
        table = engine.pull(f"SELECT {', '.join(cols)} FROM {engine.q(name)}")
        pulled += table.nbytes
        frames[name] = table.to_pandas(strings_to_categorical=True)  # few distinct strings: categoricals
    log(f"  (b) pulled {pulled / 1e6:,.0f} MB")
    parts = {"read the sources": time.perf_counter() - started}
    results = run_flow(frames, parts)
    log("  (b) computed in pandas")
    pushed = 0
    rows = {}
    writing = time.perf_counter()
    for name in OUTPUTS:
        table = to_arrow(results[name])
        pushed += table.nbytes
        rows[name] = table.num_rows
        engine.push(f"{name}_pd", table)
    parts["write the outputs"] = time.perf_counter() - writing
    log(f"  (b) pushed {pushed / 1e6:,.0f} MB")
    return {"seconds": time.perf_counter() - started, "rows": rows, "bytes": pulled + pushed,
            "pulled": pulled, "pushed": pushed, "parts": parts}


TUNED = "_sql"  # the suffix of (c)'s outputs ((b)'s: _pd)


def in_database_tuned(engine: Duck) -> dict[str, object]:
    """(c): the tuned SQL of ``payments_pandas.TUNED_SQL`` writes the five outputs, path by path."""
    qualify = {n: engine.q(n) for n in NEEDED}
    qualify.update({n: engine.q(n + TUNED) for n in OUTPUTS})
    chains = tuned_sql(engine.name, qualify)
    timings: dict[str, float] = {}

    def run(path: str) -> None:
        with engine.connect() as con:
            engine.session(con)
            started = time.perf_counter()
            for out, sql in chains[path]:
                con.execute(f"DROP TABLE IF EXISTS {engine.q(out + TUNED)}")
                con.execute(f"CREATE TABLE {engine.q(out + TUNED)} AS {sql}")
            timings[path] = time.perf_counter() - started

    started = time.perf_counter()
    if engine.parallel:
        with ThreadPoolExecutor(len(chains)) as pool:
            list(pool.map(run, chains))
    else:
        for path in chains:
            run(path)
    seconds = time.perf_counter() - started
    rows = {n: int(engine.scalar(f"SELECT COUNT(*) FROM {engine.q(n + TUNED)}")) for n in OUTPUTS}  # type: ignore[call-overload]
    return {"seconds": seconds, "rows": rows, "bytes": 0, "paths": timings}


def value_mismatches(engine: Duck, suffix: str) -> dict[str, tuple[float, float]]:
    """Outputs whose checked column sums differ between (a) and the outputs ending in ``suffix``
    ((b) or (c)) beyond rounding."""
    bad = {}
    for table, columns in VALUE_CHECKS.items():
        for column in columns:
            a = float(engine.scalar(f'SELECT SUM("{column}") FROM {engine.q(table)}') or 0.0)
            b = float(engine.scalar(f'SELECT SUM("{column}") FROM {engine.q(table + suffix)}') or 0.0)
            if abs(a - b) > 1e-6 * max(1.0, abs(a), abs(b)):
                bad[f"{table}.{column}"] = (a, b)
    return bad


# A query faster than this gets at least SHORT_RUNS timings: one noisy second on a shared machine
# moved a 1M-row check from 0.97x to 1.12x between two runs of the same SQL.
SHORT_QUERY_S = 2.0
SHORT_RUNS = 5


def sql_checks(engine: Duck, repeat: int) -> list[tuple[str, float, float]]:
    """Best-of-``repeat`` CREATE TABLE AS of the generated SQL vs the hand-written SQL (at least
    ``SHORT_RUNS`` for queries under ``SHORT_QUERY_S``)."""
    project = load_project(engine.root)
    qualify = {n: engine.q(n) for n in ("transactions", "cards", "merchants")}
    out = []
    for recipe in SQL_CHECKS:
        generated = next(iter(recipe_sql(project, recipe).values()))
        hand = hand_sql(recipe, engine.name, qualify)
        gen_s, hand_s = [], []
        runs = repeat
        while len(gen_s) < runs:  # alternate so caches favour neither
            gen_s.append(engine.timed_ctas(generated))
            hand_s.append(engine.timed_ctas(hand))
            if len(gen_s) == 1 and max(gen_s[0], hand_s[0]) < SHORT_QUERY_S:
                runs = max(repeat, SHORT_RUNS)
        out.append((recipe, min(gen_s), min(hand_s)))
        log(f"  sql {recipe}: generated {min(gen_s):.3f}s, hand-written {min(hand_s):.3f}s")
    return out


# ---------------------------------------------------------------- reporting




def report(engine: str, rows: int, a: dict, b: dict, c: dict, checks: list[tuple[str, float, float]],
           values: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
    """Print the Rich tables; return the Markdown lines for RESULTS.md."""
    table = Table(title=f"{engine}, {rows:,} transactions", title_justify="left", header_style="bold")
    for col, just in (("approach", "left"), ("seconds", "right"), ("rows out", "right"),
                      ("bytes through Python", "right"), ("(b) pandas takes", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    lines = [f"### {engine}, {rows:,} transactions", "",
             "| approach | seconds | rows out | bytes through Python | (b) pandas takes |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for label, res in (("(a) in-database: tide flow build --engine sql", a),
                       ("(b) pandas: pull needed columns, write back", b),
                       ("(c) tuned SQL in the database, unique keys known (the ceiling)", c)):
        n = sum(res["rows"].values())
        ratio = b["seconds"] / res["seconds"]
        rel = f"{ratio:.1f}x as long" if ratio >= 1 else f"{ratio:.2f}x (pandas is faster)"
        table.add_row(label, f"{res['seconds']:.2f}", f"{n:,}", f"{res['bytes'] / 1e6:,.1f} MB", rel)
        lines.append(f"| {label} | {res['seconds']:.2f} | {n:,} | {res['bytes'] / 1e6:,.1f} MB | {rel} |")
    console.print(table)
    agreement = []
    for other, res in (("(b)", b), ("(c)", c)):
        mismatched = {k: (a["rows"].get(k), v) for k, v in res["rows"].items() if a["rows"].get(k) != v}
        same = "same row counts per output" if not mismatched else f"ROW COUNTS DIFFER: {mismatched}"
        differ = values[other]
        same += ", same column sums" if not differ else f", COLUMN SUMS DIFFER: {differ}"
        agreement.append(f"(a) vs {other}: {same}")
    console.print("; ".join(agreement) + f"; (b) pulled {b['pulled'] / 1e6:,.1f} MB and pushed "
                  f"{b['pushed'] / 1e6:,.1f} MB")
    lines += ["", ". ".join(agreement) + f". Rows out: (a) {sum(a['rows'].values()):,}.", ""]
    lines += breakdown(a, b, c)
    sql_table = Table(title="generated SQL vs hand-written SQL (CREATE TABLE AS, best of runs)",
                      title_justify="left", header_style="bold")
    for col in ("recipe", "generated s", "hand-written s", "ratio", "within 1.1x"):
        sql_table.add_column(col)
    lines += ["| recipe | generated s | hand-written s | ratio | within 1.1x |",
              "| --- | ---: | ---: | ---: | --- |"]
    for recipe, gen, hand in checks:
        r = gen / hand if hand > 0 else float("inf")
        ok = "yes" if r <= 1.1 else "NO"
        sql_table.add_row(recipe, f"{gen:.3f}", f"{hand:.3f}", f"{r:.2f}x", ok)
        lines.append(f"| {recipe} | {gen:.3f} | {hand:.3f} | {r:.2f}x | {ok} |")
    console.print(sql_table)
    return [*lines, ""]


# Where each part of the Flow runs in (a): the recipes whose queries do it (a virtual dataset's work is
# done inside each query that reads it, so prepare + join runs once per stored reader).
A_PARTS = {"card_features + split": ("card_features", "split_cards"),
           "merchant_daily + merchant_risk": ("merchant_daily", "merchant_risk")}


def breakdown(a: dict, b: dict, c: dict) -> list[str]:
    """Print and return (Markdown) where the seconds go: (b) per step, (a) per stored recipe, (c) per path."""
    by_recipe = {run.recipe: run.seconds for run in a["runs"]}
    inside = "inside the queries"
    rows = [("read the sources", inside, b["parts"]["read the sources"], inside),
            ("prepare + join (virtual in the Flow)", "inside each reader's query", b["parts"][PARTS[0]],
             "inside each path's query")]
    for (part, recipes), path in zip(A_PARTS.items(), ("card", "merchant"), strict=True):
        rows.append((part, sum(by_recipe.get(r, 0.0) for r in recipes), b["parts"][part], c["paths"][path]))
    rows += [("write the outputs", inside, b["parts"]["write the outputs"], inside),
             ("total (planning and bookkeeping included in (a))", a["seconds"], b["seconds"], c["seconds"])]
    table = Table(title="where the time goes", title_justify="left", header_style="bold")
    for col, just in (("part of the Flow", "left"), ("(a) in-database s", "right"), ("(b) pandas s", "right"),
                      ("(c) tuned SQL s", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    lines = ["| part of the Flow | (a) in-database s | (b) pandas s | (c) tuned SQL s |",
             "| --- | ---: | ---: | ---: |"]
    for label, sa, sb, sc in rows:
        cell_a = sa if isinstance(sa, str) else f"{sa:.2f}"
        cell_c = sc if isinstance(sc, str) else f"{sc:.2f}"
        table.add_row(label, cell_a, f"{sb:.2f}", cell_c)
        lines.append(f"| {label} | {cell_a} | {sb:.2f} | {cell_c} |")
    console.print(table)
    return [*lines, ""]


def write_results(lines: list[str], args: argparse.Namespace) -> None:
    """Rewrite this bench's section of RESULTS.md. A run replaces the (engine, size) subsections it
    measured and keeps the others, so sizes can be re-run separately."""
    now = dt.datetime.now().isoformat(timespec="seconds")
    head = [SECTION, "", f"Machine: {machine()}.", "",
            "(a) builds the demo Flow (`src/tideflow/cli/demo_project`) with "
            "`tideflow.flow.build(engine='sql', mode='forced')`; (b) pulls only the needed source "
            "columns into pandas, runs the same logic by hand (`bench/payments_pandas.py`) and writes "
            "the five stored outputs back; (c) writes the same outputs with hand-tuned SQL that makes every "
            "rewrite card_id and merchant_id being unique allows (`TUNED_SQL` in `bench/payments_pandas.py`: "
            "the joins move after the window and the groups; the Flow, told by `unique:`, only drops the "
            "joins nothing reads and groups on the id alone): what the database could reach on this Flow, its "
            "ceiling. The last column is (b)'s seconds over each approach's. Seconds are wall time; (a) "
            "includes planning, state bookkeeping and the atomic swaps. The SQL timings are `CREATE TABLE "
            "AS` of the recipe's generated SQL and of a hand-written query, best of the runs (at least "
            f"{SHORT_RUNS} for queries under {SHORT_QUERY_S:g} s), on the same engine. *Where the time goes* "
            "splits (b) by step, (a) by stored recipe and (c) by path: the row-level recipes are virtual, "
            "so their work (prepare, join) runs inside the query of each recipe that reads them. Recipes "
            "that do not depend on each other run at the same time where the database allows it "
            "(PostgreSQL: one connection each; (c) does the same), so (a)'s parts can add up to more than "
            "its total.", ""]
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    before, old, after = text, "", ""
    if SECTION in text:
        start = text.index(SECTION)
        nxt = text.find("\n## ", start + len(SECTION))
        before, old = text[:start], text[start:nxt + 1 if nxt != -1 else len(text)]
        after = text[nxt + 1:] if nxt != -1 else ""
    subsections = _subsections(old)
    repeat = f" --repeat {args.repeat}" if args.repeat != 3 else ""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    stamp = (f"Run {now}: `python bench/pushdown.py --rows {args.rows} --engines {args.engines}{repeat}`; "
             f"load average at the end {load} (other work shares this machine: compare ratios, not seconds).")
    for heading, body in _subsections("\n".join(lines)).items():
        subsections[heading] = [stamp, "", *body]
    ordered = sorted(subsections, key=_subsection_key)
    body_lines = [line for h in ordered for line in [h, "", *subsections[h], ""]]
    section = "\n".join(head + body_lines).rstrip() + "\n"
    text = before.rstrip() + "\n\n" + section + ("\n" + after if after else "")
    RESULTS.write_text(text, encoding="utf-8")
    log(f"wrote {RESULTS}")


def _subsections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("### "):
            current = line
            out[current] = []
        elif current is not None:
            out[current].append(line)
    for heading, body in out.items():  # no blank lines around a body: the writer adds them
        while body and not body[0].strip():
            body.pop(0)
        while body and not body[-1].strip():
            body.pop()
        out[heading] = body
    return out


def _subsection_key(heading: str) -> tuple[str, int]:
    engine, _, rest = heading[4:].partition(", ")
    digits = "".join(ch for ch in rest if ch.isdigit())
    return engine, int(digits or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000000,10000000", help="comma-separated transaction counts")
    parser.add_argument("--engines", default="duckdb,postgres", help="duckdb and/or postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs per SQL timing (best is kept)")
    parser.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.rows.split(",") if s]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - {"duckdb", "postgres"}
    if unknown:
        parser.error(f"unknown engines {sorted(unknown)}: expected duckdb and/or postgres")
    log(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="tide-bench-"))
    lines: list[str] = []
    try:
        for rows in sizes:
            log(f"generating {rows:,} transactions (seed {args.seed})")
            tables = generate_tables(rows, args.seed)
            for name in engines:
                root = work / f"{name}-{rows}"
                copy_tree(package_tree("demo_project"), root)
                engine: Duck = Duck(root) if name == "duckdb" else Postgres(root)
                config = root / "tideflow.yaml"
                config.write_text(engine.project_yaml(config.read_text(encoding="utf-8")), encoding="utf-8")
                try:
                    log(f"[bold]{name}[/], {rows:,} rows: loading the sources")
                    engine.load(tables)
                    log("(a) in-database build")
                    a = in_database(engine)
                    log(f"(a) {a['seconds']:.2f}s")
                    log("(b) pandas baseline")
                    b = in_pandas(engine)
                    log(f"(b) {b['seconds']:.2f}s")
                    log("(c) tuned SQL, unique keys known")
                    c = in_database_tuned(engine)
                    log(f"(c) {c['seconds']:.2f}s")
                    values = {"(b)": value_mismatches(engine, "_pd"), "(c)": value_mismatches(engine, TUNED)}
                    checks = sql_checks(engine, args.repeat)
                    lines += report(name, rows, a, b, c, checks, values)
                finally:
                    engine.drop()
                    shutil.rmtree(root, ignore_errors=True)
            del tables
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not args.no_results:
        write_results(lines, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
