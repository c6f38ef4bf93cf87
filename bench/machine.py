"""One line describing this machine, for the header of every benchmark's results.

The machine kind is not always the same CPU (an AMD EPYC one day, an Intel Xeon the next), and the
absolute figures move with it: the CPU model is part of the line so results can be compared. Two
machines with the same model name have differed by 2x in database work, so the line also carries a
calibration: the time one DuckDB thread takes for a fixed sort-and-window query.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from functools import cache
from pathlib import Path


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def memory() -> str:
    with contextlib.suppress(OSError, KeyError, ValueError, IndexError):
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines())
        total, free = (int(info[k].split()[0]) / 1e6 for k in ("MemTotal", "MemAvailable"))
        return f"{total:.1f} GB total, {free:.1f} GB free"
    return "memory unknown"


@cache
def calibration() -> float:
    """Seconds one DuckDB thread takes to number 2M rows in 50,000 sorted partitions (best of 3):
    the sort-and-window work that dominates the data benches, as fast as this machine does it today."""
    import duckdb

    query = ("SELECT SUM(n) FROM (SELECT ROW_NUMBER() OVER (PARTITION BY i % 50000 ORDER BY i DESC) AS n "
             "FROM range(2000000) AS t(i))")
    with duckdb.connect() as con:
        con.execute("SET threads = 1")
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            con.execute(query).fetchall()
            best = min(best, time.perf_counter() - started)
    return best


def machine() -> str:
    """``2 CPUs (Intel(R) Xeon(R) Processor), x86_64, 24.7 GB total, 23.8 GB free, Python 3.11.7,
    one-thread window calibration 0.52 s``."""
    return (f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.machine()}, {memory()}, "
            f"Python {platform.python_version()}, one-thread window calibration {calibration():.2f} s")
