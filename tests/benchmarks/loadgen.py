"""An open-loop HTTP load generator and a throwaway server for the load benchmarks.

The client speaks HTTP/1.1 keep-alive on raw asyncio streams: at 1,000 requests/s a
general-purpose client (httpx) spends more CPU per request than the server under test,
and on a 2-core machine its own queueing would be charged to the server's latency.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import uvloop

IN_FLIGHT = 64  # connections (= concurrent requests) at most; the rest queue, timed
PREOPEN = 8  # keep-alive connections opened before the clock starts


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(database_url: str, workers: int = 1,
                   env: dict[str, str] | None = None,
                   log_path: str | None = None) -> Iterator[str]:
    """Run `uvicorn api.main:create_app` on loopback; yield its base URL; stop it after.

    The server's JSON log (one access line per request) goes to `log_path` when given.
    """
    port = free_port()
    env = {**os.environ, "OMNI_DATABASE_URL": database_url, **(env or {})}
    # The server's log goes to a file: a pipe nobody drains fills up and stalls the server.
    # Closed in the finally below.
    log = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log"],
        env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            log.seek(0)
            raise RuntimeError("server did not start: " + log.read().decode()[-2000:])
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@dataclass
class LoadResult:
    """What an open-loop run measured."""

    offered_rps: float
    achieved_rps: float
    sent: int
    ok: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float = float("nan")
    server_p50_ms: float = float("nan")  # the server's own time (its access log)
    server_p99_ms: float = float("nan")
    latencies_ms: np.ndarray | None = field(default=None, repr=False)  # per request, sent order
    steal_pct: float = float("nan")  # CPU time the hypervisor took from this VM during the run
    runs: int = 1
    server_ms: np.ndarray | None = field(default=None, repr=False)  # the server's own times

    def row(self) -> str:
        """One line for the report."""
        return (f"offered {self.offered_rps:6.1f}/s achieved {self.achieved_rps:6.1f}/s "
                f"ok {self.ok}/{self.sent} p50 {self.p50_ms:7.1f} ms p99 {self.p99_ms:7.1f} ms "
                f"max {self.max_ms:7.1f} ms | server p50 {self.server_p50_ms:6.2f} ms "
                f"p99 {self.server_p99_ms:6.2f} ms | steal {self.steal_pct:4.1f}%")


def pooled(results: list[LoadResult]) -> LoadResult:
    """Several runs at one rate as one: percentiles over every request of every run."""
    lat = np.concatenate([r.latencies_ms for r in results if r.latencies_ms is not None])
    good = lat[~np.isnan(lat)]
    n = sum(r.sent for r in results)

    def pct(q: float) -> float:
        return float(np.percentile(good, q)) if good.size else float("nan")

    server = np.concatenate([r.server_ms for r in results if r.server_ms is not None]
                            or [np.array([np.nan])])
    return LoadResult(
        results[0].offered_rps, float(np.mean([r.achieved_rps for r in results])), n,
        sum(r.ok for r in results), sum(r.errors for r in results), pct(50), pct(99),
        float(good.max()) if good.size else float("nan"),
        float(np.percentile(server, 50)), float(np.percentile(server, 99)), lat,
        float(np.mean([r.steal_pct for r in results])), len(results), server)


def cpu_ticks() -> tuple[int, int]:
    """(steal, total) CPU ticks of this machine so far (/proc/stat; zeros elsewhere)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


class ServerLog:
    """Reads the server's access lines written since the last read (server-side latency)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0

    def times_ms(self, route: str) -> np.ndarray:
        """Milliseconds the server spent on each request of `route` logged since last time."""
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        cut = data.rfind(b"\n") + 1  # a line still being written waits for the next read
        self.offset += cut
        out = []
        for line in data[:cut].splitlines():
            if line.startswith(b"{") and b'"logger":"omni.access"' in line:
                rec = json.loads(line)
                if rec.get("route") == route:
                    out.append(rec["ms"])
        return np.array(out, dtype=float)

    def annotate(self, result: LoadResult, route: str) -> LoadResult:
        """The result with the server-side p50/p99 of the requests just sent."""
        ms = self.times_ms(route)
        result.server_ms = ms
        if ms.size:
            result.server_p50_ms = float(np.percentile(ms, 50))
            result.server_p99_ms = float(np.percentile(ms, 99))
        return result


class _Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, head: bytes, body: bytes) -> int:
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            raise ConnectionResetError("server asked to close")
        return status


def _encode(host: str, method: str, path: str, body: Any) -> tuple[bytes, bytes]:
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return (head + "\r\n").encode(), data


async def _run(base: str, rate: float, seconds: float,
               make: Callable[[int], tuple[str, str, Any]],
               headers: dict[str, str] | None = None) -> LoadResult:
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    n = int(rate * seconds)
    lat = np.full(n, np.nan)
    status = np.zeros(n, dtype=np.int64)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
    # Encode every request up front: the generator's own work must stay off the clock.
    reqs = []
    for i in range(n):
        head, body = _encode(host, *make(i))
        reqs.append((head[:-2] + extra + b"\r\n", body))
    idle: list[_Conn] = []
    opened = 0
    gate = asyncio.Semaphore(IN_FLIGHT)
    # A client keeps a warm keep-alive pool: open it before the clock starts.
    for _ in range(PREOPEN):
        idle.append(_Conn(*await asyncio.open_connection(host, port)))

    async def one(i: int, due: float) -> None:
        nonlocal opened
        async with gate:
            conn = idle.pop() if idle else None
            # A kept-alive connection the server closed while idle (uvicorn's keep-alive
            # timeout) fails before any answer: send once more on a fresh one, timed.
            for fresh in ((False, True) if conn is not None else (True,)):
                try:
                    if fresh:
                        opened += 1
                        conn = _Conn(*await asyncio.open_connection(host, port))
                    assert conn is not None
                    status[i] = await conn.request(*reqs[i])
                    idle.append(conn)
                    break
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    status[i] = -1
                    if conn is not None:
                        conn.writer.close()
        lat[i] = time.perf_counter() - due

    # Open loop: request i is due at t0 + i / rate whether or not earlier ones ended, and
    # its latency counts from when it was due (no coordinated omission). One task is made
    # when its request falls due: making them all up front (thousands of sleeping tasks)
    # costs the loop tens of milliseconds at the start, charged to the first requests.
    running: set[asyncio.Task[None]] = set()
    t0 = time.perf_counter()
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, due))
        running.add(task)
        task.add_done_callback(running.discard)
    while running:
        await asyncio.gather(*running)
    wall = time.perf_counter() - t0
    for c in idle:
        c.writer.close()
    ok = (status >= 200) & (status < 300)
    good = lat[ok] * 1e3

    def pct(q: float) -> float:
        return float(np.percentile(good, q)) if good.size else float("nan")

    return LoadResult(rate, ok.sum() / wall, n, int(ok.sum()), int((~ok).sum()),
                      pct(50), pct(99), float(good.max()) if good.size else float("nan"),
                      latencies_ms=np.where(ok, lat * 1e3, np.nan))


def open_loop(base: str, rate: float, seconds: float,
              make: Callable[[int], tuple[str, str, Any]],
              headers: dict[str, str] | None = None) -> LoadResult:
    """Send `rate` requests per second for `seconds` (make(i) -> method, path, json)."""
    # The generator's own collector pauses would be charged to the server: off while timing.
    gc.collect()
    gc.disable()
    steal0, total0 = cpu_ticks()
    try:
        # uvloop: the stock event loop's timers and stream callbacks cost the generator
        # enough at 1,000/s to charge it bursts of tens of milliseconds.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(_run(base, rate, seconds, make, headers))
    finally:
        gc.enable()
    steal1, total1 = cpu_ticks()
    if total1 > total0:
        result.steal_pct = 100.0 * (steal1 - steal0) / (total1 - total0)
    return result
