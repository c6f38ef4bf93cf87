"""The worker process of an endpoint version, and the framing of the messages it exchanges with the server.

A worker builds its runner (loads the model), says ``("ready", version)``, then scores each
``(request_id, records)`` it reads and answers ``(request_id, ok, outputs or error, seconds)``; ``STOP``
ends it after the batches before it. Messages are pickles in ``multiprocessing.connection``'s framing
(``frame`` / ``unframe``), so the worker side is a plain ``Connection`` turned into a socket.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import socket
import struct
import time
import traceback
import uuid
from multiprocessing.connection import Connection
from typing import Any

from tideflow.serving.errors import InvalidInput, ModelError
from tideflow.serving.runners import Runner, RunnerTarget, build_runner

log = logging.getLogger("tideflow.serving")
STOP = None
PICKLE = pickle.HIGHEST_PROTOCOL
CHUNK = 1 << 16  # bytes read from a worker's socket at a time


def frame(message: Any) -> bytes:
    """One message in ``Connection.send_bytes``' framing: a 4-byte big-endian length (or -1 and an 8-byte
    length), then the pickle."""
    payload = pickle.dumps(message, PICKLE)
    n = len(payload)
    return (struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!iQ", -1, n)) + payload


def unframe(buf: bytearray) -> list[Any]:
    """The whole messages at the front of ``buf``, removed from it (a partial one stays)."""
    out: list[Any] = []
    size, done = len(buf), 0
    with memoryview(buf) as view:
        while size - done >= 4:
            (n,) = struct.unpack_from("!i", buf, done)
            start = done + 4
            if n == -1:
                if size - done < 12:
                    break
                (n,) = struct.unpack_from("!Q", buf, done + 4)
                start = done + 12
            end = start + n
            if size < end:
                break
            out.append(pickle.loads(view[start:end]))
            done = end
    del buf[:done]
    return out


def score(runner: Runner, target: RunnerTarget, request_id: int, records: list[Any]) -> tuple[Any, ...]:
    started = time.perf_counter()
    try:
        outputs = runner(records)
        return (request_id, True, outputs, time.perf_counter() - started)
    except ModelError as err:
        return (request_id, False, (str(err).rsplit(" (error id", 1)[0], err.error_id),
                time.perf_counter() - started)
    except InvalidInput as err:  # the client's to fix (a null the model cannot take): its parts, for a 422
        return (request_id, False, ("invalid", err.detail, err.field, err.record), time.perf_counter() - started)
    except Exception as err:
        error_id = uuid.uuid4().hex[:16]
        log.error("error id %s in %s/%s v%s:\n%s", error_id, target.service, target.endpoint, target.version,
                  traceback.format_exc())
        return (request_id, False, (f"the model failed ({type(err).__name__})", error_id),
                time.perf_counter() - started)


def worker_main(conn: Connection, target: RunnerTarget) -> None:  # pragma: no cover - runs in the child
    """The loop of one worker process: build the runner, then score batches until told to stop.

    Each worker scores on one thread (BLAS/OpenMP pools limited to 1): parallelism comes from processes.
    It reads whatever has arrived, scores each batch in turn and answers them in one write (under load
    several batches arrive together: fewer system calls and wake-ups on both sides).
    """
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    conn.close()
    sock.setblocking(True)
    try:
        runner = build_runner(target)
    except Exception as err:
        with contextlib.suppress(OSError):
            sock.sendall(frame(("failed", f"{type(err).__name__}: {err}")))
        return
    # What the model's imports and the runner allocated lives as long as the process: out of the
    # collector's sight, so a full collection does not walk it in the middle of a request.
    gc.collect()
    gc.freeze()
    buf = bytearray()
    chunk = memoryview(bytearray(CHUNK))
    try:
        sock.sendall(frame(("ready", runner.version)))
        while True:
            got = sock.recv_into(chunk)
            if not got:
                return
            buf += chunk[:got]
            replies = bytearray()
            for message in unframe(buf):
                if message is STOP:
                    sock.sendall(bytes(replies) + frame(("stopped", None)))
                    return
                request_id, records = message
                replies += frame(score(runner, target, request_id, records))
            if replies:
                sock.sendall(replies)
    except (OSError, KeyboardInterrupt):
        return
    finally:
        gc.unfreeze()  # a normal collection at exit (extension modules check for leaks then)
