"""Worker processes per endpoint version, resizable while serving.

``WorkerPool`` keeps N processes, each holding one runner (a loaded model). A batch goes to the ready
worker with the fewest batches in flight. ``resize(n)`` starts new processes (they take traffic once
their model is loaded) or drains surplus ones: a leaving worker gets no new batch, finishes those in
flight, then exits, so no request is lost. A worker that dies fails only its in-flight batches (5xx)
and is replaced. ``InlinePool`` is the same interface for ``workers: 0`` (run in the server process).

The server talks to each worker over a socket pair read and written by the event loop itself (no reader
thread: a thread per worker would fight the loop for the GIL on every answer). Messages are pickles in
``multiprocessing.connection``'s framing, so the worker uses a plain ``Connection``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing as mp
import socket
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from tideflow.serving.errors import InvalidInput, ModelError, ServingError, Unavailable
from tideflow.serving.runners import Runner, RunnerTarget
from tideflow.serving.worker_process import CHUNK, STOP, frame, unframe, worker_main

log = logging.getLogger("tideflow.serving")
@dataclass
class PoolStats:
    """A snapshot for metrics and the autoscaling controller (issue 5)."""

    target: int
    starting: int
    ready: int
    draining: int
    in_flight: int
    batches: int
    busy_s: float


class _Channel:
    """The server's end of a worker's socket pair, driven by the event loop: ``send`` never blocks (what the
    socket does not take now is written when it can), whole messages go to ``on_message``, and end of
    file (the worker exited) to ``on_closed``. Framing as ``Connection.send_bytes``: a 4-byte big-endian
    length (or -1 and an 8-byte length), then a pickle."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 on_message: Callable[[Any], None], on_closed: Callable[[], None]) -> None:
        sock.setblocking(False)
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.on_message = on_message
        self.on_closed = on_closed
        self.rbuf = bytearray()
        self.chunk = memoryview(bytearray(CHUNK))  # reused by every read (no buffer allocated per read)
        self.wbuf = bytearray()
        self.writing = False  # waiting for the socket to take the rest of ``wbuf``
        self.closed = False
        loop.add_reader(self.fd, self._readable)

    def send(self, message: Any) -> None:
        """Queue ``message``; the queue is written once per loop iteration (requests that arrive together
        go to the worker in one system call)."""
        if self.closed:
            raise OSError("the channel to the worker is closed")
        if not self.wbuf and not self.writing:
            self.loop.call_soon(self._flush)
        self.wbuf += frame(message)

    def _flush(self) -> None:
        if self.closed or self.writing or not self.wbuf:
            return
        try:
            sent = self.sock.send(self.wbuf)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # the worker is gone: the reader sees the end of file
            self.wbuf.clear()
            return
        del self.wbuf[:sent]
        if self.wbuf:
            self.writing = True
            self.loop.add_writer(self.fd, self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self.wbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # the worker is gone: the reader sees the end of file
            self.wbuf.clear()
            self.writing = False
            self.loop.remove_writer(self.fd)
            return
        del self.wbuf[:sent]
        if not self.wbuf:
            self.writing = False
            self.loop.remove_writer(self.fd)

    def _readable(self) -> None:
        try:
            got = self.sock.recv_into(self.chunk)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            got = 0
        if not got:
            self.close()
            self.on_closed()
            return
        self.rbuf += self.chunk[:got]
        for message in unframe(self.rbuf):
            if self.closed:
                return
            try:
                self.on_message(message)
            except Exception:  # one message's handling must not strand the ones behind it
                log.exception("error handling a message from a worker")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.fd)
        if self.writing:
            self.loop.remove_writer(self.fd)
        self.sock.close()


class _Worker:
    def __init__(self, pool: WorkerPool, wid: int) -> None:
        self.pool = pool
        self.wid = wid
        self.state = "starting"
        self.pending: dict[int, asyncio.Future[list[Any]]] = {}
        parent, child_sock = socket.socketpair()
        child = Connection(child_sock.detach())
        self.process = pool.ctx.Process(target=worker_main, args=(child, pool.target), daemon=True,
                                        name=f"tide-{pool.target.endpoint}-{wid}")
        try:
            self.process.start()
        finally:
            child.close()
        self.drained = asyncio.Event()
        self.conn = _Channel(pool.loop, parent, self._message, self._closed)

    def _message(self, message: tuple[Any, ...]) -> None:
        if message[0] in ("stopped", "failed"):  # the worker leaves: what follows is its exit
            self.conn.close()
        self.pool._message(self, message)

    def _closed(self) -> None:
        self.pool._exited(self)


class WorkerPool:
    """A resizable set of worker processes for one endpoint version. Create it inside a running loop."""

    def __init__(self, target: RunnerTarget, size: int, *, start_method: str = "spawn",
                 on_change: Callable[[], None] | None = None) -> None:
        self.target = target
        self.ctx: Any = mp.get_context(start_method)
        self.loop = asyncio.get_running_loop()
        self.workers: list[_Worker] = []
        self.size = 0
        self.ids = itertools.count(1)
        self.requests = itertools.count(1)
        self.batches = 0
        self.busy_s = 0.0
        self.version: str | None = None
        self.failure: str | None = None
        self.closing = False
        self.on_change = on_change
        self._ready = asyncio.Event()
        self.resize(size)

    # ------------------------------------------------------------------ sizing

    def resize(self, size: int) -> None:
        """Grow to ``size`` processes now; shrink by draining the surplus (they finish in-flight batches)."""
        if size < 1:
            raise ValueError(f"a worker pool needs at least 1 worker, got {size}")
        self.size = size
        active = [w for w in self.workers if w.state in ("starting", "ready")]
        for _ in range(size - len(active)):
            self.workers.append(_Worker(self, next(self.ids)))
        surplus = len(active) - size
        if surplus > 0:
            # leave starting workers first, then the least loaded ready ones
            leaving = sorted(active, key=lambda w: (w.state != "starting", len(w.pending)))[:surplus]
            for worker in leaving:
                self._drain(worker)
        self._changed()

    def _drain(self, worker: _Worker) -> None:
        worker.state = "draining"
        if not worker.pending:
            self._stop(worker)

    def _stop(self, worker: _Worker) -> None:
        with contextlib.suppress(OSError, ValueError):
            worker.conn.send(STOP)

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait until at least one worker is ready (raise ``Unavailable`` if it failed to start)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.failure is not None:
                raise Unavailable(f"endpoint {self.target.endpoint!r}: the worker failed to start: {self.failure}")
            if any(w.state == "ready" for w in self.workers):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(f"endpoint {self.target.endpoint!r}: no worker ready after {timeout_s:g} s")
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), min(left, 0.5))

    async def wait_settled(self, timeout_s: float = 60.0) -> None:
        """Wait until every process is ready and every leaving one has exited (tests, the autoscaler)."""
        deadline = time.monotonic() + timeout_s
        while any(w.state in ("starting", "draining") for w in self.workers) and time.monotonic() < deadline:
            if self.failure is not None:
                raise Unavailable(f"endpoint {self.target.endpoint!r}: the worker failed to start: {self.failure}")
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ scoring

    async def __call__(self, records: list[Any]) -> list[Any]:
        worker = self._pick()
        if worker is None:
            await self.wait_ready()
            worker = self._pick()
            if worker is None:
                raise Unavailable(f"endpoint {self.target.endpoint!r} has no ready worker")
        request_id = next(self.requests)
        future: asyncio.Future[list[Any]] = self.loop.create_future()
        worker.pending[request_id] = future
        try:
            worker.conn.send((request_id, records))
        except (OSError, ValueError):
            worker.pending.pop(request_id, None)
            raise Unavailable(f"endpoint {self.target.endpoint!r}: the worker is gone; retry") from None
        return await future

    def _pick(self) -> _Worker | None:
        best: _Worker | None = None
        for w in self.workers:
            if w.state == "ready" and (best is None or len(w.pending) < len(best.pending)):
                best = w
        return best

    # ------------------------------------------------------------------ messages (loop thread)

    def _message(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            self.version = message[1]
            if worker.state == "starting":
                worker.state = "ready"
            elif worker.state == "draining":
                self._stop(worker)
            self._ready.set()
            self._changed()
            return
        if kind == "failed":
            self.failure = message[1]
            worker.state = "stopped"
            log.error("endpoint %s: a worker failed to start: %s", self.target.endpoint, message[1])
            self._ready.set()
            self._changed()
            return
        if kind == "stopped":
            self._finish(worker)
            return
        request_id, ok, payload, elapsed_s = message
        self.batches += 1
        self.busy_s += elapsed_s
        future = worker.pending.pop(request_id, None)
        if future is not None and not future.done():
            if ok:
                future.set_result(payload)
            elif len(payload) == 4:
                _, detail, field, record = payload
                future.set_exception(InvalidInput(detail, field=field, record=record))
            else:
                text, error_id = payload
                future.set_exception(ModelError(text, endpoint=self.target.endpoint, error_id=error_id))
        if worker.state == "draining" and not worker.pending:
            self._stop(worker)

    def _exited(self, worker: _Worker) -> None:
        was = worker.state
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(ModelError("the worker process exited while scoring",
                                                endpoint=self.target.endpoint))
        worker.pending.clear()
        self._finish(worker)
        if was in ("ready", "starting") and not self.closing and self.failure is None:
            log.error("endpoint %s: worker %d exited; starting a replacement", self.target.endpoint, worker.wid)
            self.resize(self.size)

    def _finish(self, worker: _Worker) -> None:
        worker.state = "stopped"
        worker.drained.set()
        if worker in self.workers:
            self.workers.remove(worker)
        with contextlib.suppress(OSError):
            worker.conn.close()
        self.loop.run_in_executor(None, worker.process.join, 5.0)
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # ------------------------------------------------------------------ reporting, closing

    def stats(self) -> PoolStats:
        states = [w.state for w in self.workers]
        return PoolStats(target=self.size, starting=states.count("starting"), ready=states.count("ready"),
                         draining=states.count("draining"), in_flight=sum(len(w.pending) for w in self.workers),
                         batches=self.batches, busy_s=self.busy_s)

    @property
    def ready(self) -> bool:
        return any(w.state == "ready" for w in self.workers)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Drain every worker (in-flight batches finish), then make sure the processes are gone."""
        self.closing = True
        workers = list(self.workers)
        for w in workers:
            self._drain(w)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(w.drained.wait() for w in workers)), timeout_s)
        for w in workers:
            if w.process.is_alive():
                w.process.kill()
            await self.loop.run_in_executor(None, w.process.join, 5.0)


class InlinePool:
    """``workers: 0``: the runner lives in the server process (lookups, I/O-bound SQL, tiny functions).

    ``threaded`` runs each batch in a thread (blocking drivers); otherwise on the event loop.
    """

    def __init__(self, runner: Runner, *, endpoint: str, threaded: bool) -> None:
        self.runner = runner
        self.endpoint = endpoint
        self.threaded = threaded
        self.version: str | None = runner.version
        self.batches = 0
        self.busy_s = 0.0
        self.in_flight = 0
        self.ready = True

    async def __call__(self, records: list[Any]) -> list[Any]:
        started = time.perf_counter()
        self.in_flight += 1
        try:
            if self.threaded:
                return await asyncio.to_thread(self._run, records)
            return self._run(records)
        finally:
            self.in_flight -= 1
            self.batches += 1
            self.busy_s += time.perf_counter() - started

    def _run(self, records: list[Any]) -> list[Any]:
        try:
            return self.runner(records)
        except ServingError:
            raise
        except Exception as err:
            error_id = uuid.uuid4().hex[:16]
            log.error("error id %s in endpoint %s:\n%s", error_id, self.endpoint, traceback.format_exc())
            raise ModelError(f"the model failed ({type(err).__name__})", endpoint=self.endpoint,
                             error_id=error_id) from None

    def resize(self, size: int) -> None:
        raise ValueError(f"endpoint {self.endpoint!r} runs in the server process (workers: 0); "
                         "set workers: 1 or more to give it a resizable pool")

    def stats(self) -> PoolStats:
        return PoolStats(target=0, starting=0, ready=1, draining=0, in_flight=self.in_flight, batches=self.batches,
                         busy_s=self.busy_s)

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        return None

    async def wait_settled(self, timeout_s: float = 60.0) -> None:
        return None

    async def close(self, timeout_s: float = 10.0) -> None:
        return None
