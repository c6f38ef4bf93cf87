"""Micro-batching: a pure merge/split of requests, and an asyncio batcher (max size, max wait).

``merge`` concatenates the records of several requests and remembers where each began; ``split``
cuts the outputs of the merged batch back into one list per request. Both are pure and tested
without a server (hypothesis: ``split(f(merge(rs))) == [f(r) for r in rs]`` for any row-wise f).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Batch(Generic[T]):
    """Records of several requests in one list; ``offsets[i]`` is where request ``i`` starts."""

    records: list[T]
    offsets: tuple[int, ...]

    @property
    def sizes(self) -> list[int]:
        bounds = [*self.offsets, len(self.records)]
        return [bounds[i + 1] - bounds[i] for i in range(len(self.offsets))]


def merge(requests: Sequence[Sequence[T]]) -> Batch[T]:
    """One batch holding every record of ``requests``, in order."""
    records: list[T] = []
    offsets: list[int] = []
    for request in requests:
        offsets.append(len(records))
        records.extend(request)
    return Batch(records, tuple(offsets))


def split(outputs: Sequence[U], batch: Batch[Any]) -> list[list[U]]:
    """Outputs of a merged batch cut back per request. The batch function must be row-wise (one output per row)."""
    if len(outputs) != len(batch.records):
        raise ValueError(f"a batch of {len(batch.records)} records gave {len(outputs)} outputs: "
                         "the scoring function must return one output per record")
    bounds = [*batch.offsets, len(outputs)]
    return [list(outputs[bounds[i]:bounds[i + 1]]) for i in range(len(batch.offsets))]


def take(pending: Sequence[Sequence[Any]], max_batch_size: int) -> int:
    """How many pending requests go into the next batch: at least one, then while the rows fit."""
    rows, n = 0, 0
    for request in pending:
        if n and rows + len(request) > max_batch_size:
            break
        rows += len(request)
        n += 1
    return n


Score = Callable[[list[Any]], Awaitable[list[Any]]]


class MicroBatcher:
    """Collects concurrent requests and scores them together.

    A batch leaves when it holds ``max_batch_size`` rows or ``max_wait_ms`` after its first request
    arrived. A request alone with nothing else in flight is sent at once (adaptive: no wait when idle).
    ``on_batch(rows)`` observes batch sizes (metrics).
    """

    def __init__(self, score: Score, *, max_batch_size: int, max_wait_ms: float,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.score = score
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._pending: list[tuple[list[Any], asyncio.Future[list[Any]]]] = []
        self._rows = 0
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, records: list[Any]) -> list[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._pending.append((records, future))
        self._rows += len(records)
        if self._rows >= self.max_batch_size or (self._in_flight == 0 and len(self._pending) == 1):
            # full, or idle: send now; later arrivals batch up behind it
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            n = take([r for r, _ in self._pending], self.max_batch_size)
            group, self._pending = self._pending[:n], self._pending[n:]
            self._rows -= sum(len(r) for r, _ in group)
            self._in_flight += 1
            task = asyncio.ensure_future(self._run(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if self._rows < self.max_batch_size:
                break
        if self._pending and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.max_wait_s, self._flush)

    async def _run(self, group: list[tuple[list[Any], asyncio.Future[list[Any]]]]) -> None:
        try:
            await self._score_group(group)
        finally:
            self._in_flight -= 1

    async def _score_group(self, group: list[tuple[list[Any], asyncio.Future[list[Any]]]]) -> None:
        batch = merge([records for records, _ in group])
        try:
            if self.on_batch is not None:
                self.on_batch(len(batch.records))
            outputs = await self.score(batch.records)
            parts = split(outputs, batch)
        except asyncio.CancelledError as err:  # every waiter gets the error, none hangs
            for _, future in group:
                if not future.done():
                    future.set_exception(err)
            raise
        except Exception as err:
            if len(group) > 1:  # one request's bad record must not fail the others: each is scored alone
                await asyncio.gather(*(self._score_group([one]) for one in group))
            elif not group[0][1].done():
                group[0][1].set_exception(err)
            return
        for (_, future), part in zip(group, parts, strict=True):
            if not future.done():
                future.set_result(part)

    async def close(self) -> None:
        if self._pending:
            self._flush()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
