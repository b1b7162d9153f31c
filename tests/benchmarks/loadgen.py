"""An open-loop HTTP load generator and a throwaway server for the load benchmarks."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

IN_FLIGHT = 64  # concurrent requests at most; the rest queue in the generator, timed


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(database_url: str, workers: int = 1,
                   env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `uvicorn api.main:create_app` on loopback; yield its base URL; stop it after."""
    port = free_port()
    env = {**os.environ, "OMNI_DATABASE_URL": database_url, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
            raise RuntimeError("server did not start: " + proc.stderr.read().decode()[-2000:])
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


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

    def row(self) -> str:
        """One line for the report."""
        return (f"offered {self.offered_rps:6.1f}/s achieved {self.achieved_rps:6.1f}/s "
                f"ok {self.ok}/{self.sent} p50 {self.p50_ms:7.1f} ms p99 {self.p99_ms:7.1f} ms")


async def _run(base: str, rate: float, seconds: float,
               make: Callable[[int], tuple[str, str, Any]]) -> LoadResult:
    n = int(rate * seconds)
    lat = np.full(n, np.nan)
    status = np.zeros(n, dtype=np.int64)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    # httpx's pool costs O(waiters) per request: with thousands queued behind a saturated
    # server the generator itself burns the CPU. Requests past IN_FLIGHT wait on a semaphore
    # instead, and their wait still counts (latency runs from the due time).
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        t0 = time.perf_counter()

        async def one(i: int) -> None:
            # Open loop: request i is due at t0 + i / rate whether or not earlier ones ended,
            # and its latency counts from when it was due (no coordinated omission).
            due = t0 + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            method, path, body = make(i)
            async with gate:
                try:
                    r = await client.request(method, path, json=body)
                    status[i] = r.status_code
                except httpx.HTTPError:
                    status[i] = -1
            lat[i] = time.perf_counter() - due

        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - t0
    ok = (status >= 200) & (status < 300)
    good = lat[ok] * 1e3
    return LoadResult(rate, ok.sum() / wall, n, int(ok.sum()), int((~ok).sum()),
                      float(np.percentile(good, 50)) if good.size else float("nan"),
                      float(np.percentile(good, 99)) if good.size else float("nan"))


def open_loop(base: str, rate: float, seconds: float,
              make: Callable[[int], tuple[str, str, Any]]) -> LoadResult:
    """Send `rate` requests per second for `seconds` (make(i) -> method, path, json)."""
    return asyncio.run(_run(base, rate, seconds, make))
