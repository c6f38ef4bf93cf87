"""Micro-batching without a server: merge/split properties (hypothesis) and the asyncio batcher."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tideflow.serving.batching import MicroBatcher, merge, split, take

requests = st.lists(st.lists(st.integers(), max_size=8), min_size=1, max_size=12)


@given(requests)
def test_split_of_a_rowwise_function_of_merge_is_the_function_per_request(rs: list[list[int]]) -> None:
    batch = merge(rs)
    assert batch.records == [x for r in rs for x in r]
    assert batch.sizes == [len(r) for r in rs]
    assert split([x * 2 for x in batch.records], batch) == [[x * 2 for x in r] for r in rs]


@given(requests, st.integers(min_value=1, max_value=20))
def test_take_fills_a_batch_without_going_over_unless_one_request_is_larger(rs: list[list[int]], size: int) -> None:
    n = take(rs, size)
    assert 1 <= n <= len(rs)
    rows = sum(len(r) for r in rs[:n])
    assert rows <= size or n == 1
    if n < len(rs):
        assert rows + len(rs[n]) > size


def test_split_refuses_a_function_that_is_not_rowwise() -> None:
    with pytest.raises(ValueError, match="one output per record"):
        split([1], merge([[1, 2]]))


def test_the_batcher_merges_concurrent_requests_and_answers_each_its_own() -> None:
    seen: list[int] = []

    async def score(records: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return [r * 10 for r in records]

    async def main() -> list[list[int]]:
        batcher = MicroBatcher(score, max_batch_size=8, max_wait_ms=5, on_batch=seen.append)
        out = await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(10)))
        await batcher.close()
        return list(out)

    out = asyncio.run(main())
    assert out == [[i * 10, (i + 100) * 10] for i in range(10)]
    assert sum(seen) == 20 and max(seen) <= 8 and len(seen) < 10  # batched, never over the size


def test_a_failing_batch_fails_every_request_in_it_and_none_hangs() -> None:
    async def score(records: list[int]) -> list[int]:
        raise RuntimeError("model down")

    async def main() -> list[object]:
        batcher = MicroBatcher(score, max_batch_size=4, max_wait_ms=1)
        return await asyncio.gather(*(batcher.submit([i]) for i in range(6)), return_exceptions=True)

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(main()))


def test_one_requests_bad_record_fails_only_that_request() -> None:
    """A batch that fails is scored again request by request: only the request with the bad record
    gets the error; the others in the same batch get their outputs."""
    calls: list[list[int]] = []

    async def score(records: list[int]) -> list[int]:
        calls.append(list(records))
        await asyncio.sleep(0.005)
        if -1 in records:
            raise ValueError("a record the model cannot take")
        return [r * 10 for r in records]

    async def main() -> tuple[list[object], MicroBatcher]:
        batcher = MicroBatcher(score, max_batch_size=16, max_wait_ms=20)
        requests = [[1, 2], [3, -1], [5]]
        out = await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)
        await batcher.close()
        return list(out), batcher

    out, batcher = asyncio.run(main())
    assert out[0] == [10, 20] and out[2] == [50]
    assert isinstance(out[1], ValueError)
    assert any(3 in c and 5 in c for c in calls)  # they were batched together first
    assert batcher._in_flight == 0
