"""A webhook receiver on loopback for tests: records every delivery, can refuse for a while."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    """Deliveries as they arrived: (headers, raw body, receipt time)."""

    items: list[tuple[dict[str, str], bytes, float]] = field(default_factory=list)
    refused: int = 0
    failing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def unique(self) -> list[dict[str, Any]]:
        """CloudEvents in first-receipt order, one per webhook-id (duplicates must match)."""
        seen: dict[str, bytes] = {}
        out = []
        with self.lock:
            items = list(self.items)
        for headers, body, _ in items:
            mid = headers["webhook-id"]
            if mid in seen:
                assert seen[mid] == body, f"redelivery of {mid} changed its body"
                continue
            seen[mid] = body
            out.append(json.loads(body))
        return out

    def in_order(self) -> list[dict[str, Any]]:
        """The unique events sorted by sequence, after checking that each partition's
        (position's, order's) events first arrived in sequence order."""
        events = self.unique()
        last: dict[str, int] = {}
        for e in events:
            seq = int(e["id"])
            assert seq > last.get(e["partitionkey"], 0), f"{e['partitionkey']} out of order"
            last[e["partitionkey"]] = seq
        return sorted(events, key=lambda e: int(e["id"]))

    def verify(self, secret: str) -> int:
        """Check every signature; how many were checked."""
        wh = Webhook(secret)
        with self.lock:
            items = list(self.items)
        for headers, body, _ in items:
            wh.verify(body, headers)
        return len(items)


@contextmanager
def receiver() -> Iterator[tuple[str, Received]]:
    """(URL, record) of a receiver serving on 127.0.0.1 until the block ends."""
    rec = Received()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            size = int(self.headers.get("content-length", 0))
            try:
                body = self.rfile.read(size)
            except OSError:
                return  # the sender died mid-request (a killed relay): nothing arrived
            if len(body) < size:
                return
            if rec.failing:
                with rec.lock:
                    rec.refused += 1
                self.send_response(503)
            else:
                with rec.lock:
                    rec.items.append(({k.lower(): v for k, v in self.headers.items()}, body,
                                      time.time()))
                self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the relay opens up to 16 connections at once per hook

    srv = Server(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/hook", rec
    finally:
        srv.shutdown()
        srv.server_close()
