"""The query log: inputs, outputs, version and latency of each request, appended as JSON lines.

Entries are buffered in memory and written by a background task (off the request path), one file
per endpoint and day: ``<path>/<service>/<endpoint>/<YYYY-MM-DD>.jsonl``. DuckDB reads them as a
dataset: ``SELECT * FROM read_json_auto('.tide/query_log/fraud/score/*.jsonl')``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from tideflow.serving.protocols import dumps


class QueryLog:
    def __init__(self, root: Path, service: str, *, sample_rate: float = 1.0, flush_s: float = 0.5) -> None:
        self.root = root / service
        self.sample_rate = sample_rate
        self.flush_s = flush_s
        self._buffer: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def append(self, entry: dict[str, Any]) -> None:
        if self.sample_rate < 1.0 and random.random() >= self.sample_rate:
            return
        self._buffer.append(entry)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer:
            return
        entries, self._buffer = self._buffer, []
        await asyncio.to_thread(self._write, entries)

    def _write(self, entries: list[dict[str, Any]]) -> None:
        groups: dict[tuple[str, int], list[bytes]] = defaultdict(list)
        for entry in entries:  # grouped by endpoint and UTC day (whole days since the epoch)
            groups[(entry["endpoint"], int(entry["ts"] // 86400))].append(dumps(entry))
        for (endpoint, days), lines in groups.items():
            day = (dt.date(1970, 1, 1) + dt.timedelta(days=days)).isoformat()
            path = self.root / endpoint / f"{day}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as fh:
                fh.write(b"\n".join(lines) + b"\n")
        self.written += len(entries)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
