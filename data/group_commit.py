"""Group commit: one writer thread writes the waiting jobs together, in one transaction.

Instead of every request taking the write lock (SQLite) or a connection and an fsync
(PostgreSQL) of its own, request threads hand their decided work to one writer thread per
process and wait. The writer takes every job that is waiting and writes them with one
batch function (a dozen multi-row statements for a batch of orders, `data.order_writer`),
then commits once. Nobody waits for a batch to fill: an idle writer takes a lone job at
once, so a quiet service commits each order as before and a busy one several per commit.

A job's effects are durable only once its future settles (after the COMMIT).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from data.db import Database, RawCursor

T = TypeVar("T")
J = TypeVar("J")
log = logging.getLogger("omni.data")

Job = Callable[[RawCursor], Any]
_STOP = object()


class BatchCommitter(Generic[J]):
    """One writer thread that writes every waiting job with one batch function, in one
    transaction: `write(cursor, jobs) -> outcomes`, an outcome per job, either its result or
    the exception refusing that job alone. Nobody waits for a batch to fill: an idle
    writer takes a lone job at once.

    The batch transaction runs again after a deadlock or serialization failure
    (PostgreSQL), and a job's future is settled only after the COMMIT, so a caller never
    acts on a write that did not stand. Any other failure of the transaction settles every
    job of the batch with it.
    """

    def __init__(self, db: Database, write: Callable[[RawCursor, list[J]], list[Any]],
                 max_batch: int = 64, name: str = "batch-writer") -> None:
        if max_batch < 1:
            raise ValueError(f"expected max_batch >= 1, got {max_batch}")
        self.db = db
        self.write = write
        self.max_batch = max_batch
        self.name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # transactions committed (for tests and metrics)
        self.jobs_done = 0

    def submit(self, job: J) -> Future[Any]:
        """Queue `job` for the next batch; its future settles once the batch committed."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a batch job cannot wait for another batch")
        self._ensure_started()
        fut: Future[Any] = Future()
        self._jobs.put((job, fut))
        return fut

    def stop(self) -> None:
        """Finish the waiting jobs and end the writer thread."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(_STOP)
            thread.join(timeout=30)

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name=self.name,
                                                    daemon=True)
                    self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._jobs.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self._jobs.put(_STOP)  # after this batch
                    break
                batch.append(nxt)
            self._commit(batch)

    def _commit(self, batch: list[tuple[J, Future[Any]]]) -> None:
        jobs = [j for j, _ in batch]
        try:
            outcomes = self.db.run_raw(lambda cur: self.write(cur, jobs), what=self.name)
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{self.name}: {len(outcomes)} outcomes for {len(batch)} jobs")
        except BaseException as exc:  # nothing of the batch stands
            log.exception("%s: batch of %d jobs failed", self.name, len(batch))
            for _, fut in batch:
                fut.set_exception(exc)
            return
        self.batches += 1
        self.jobs_done += len(batch)
        for (_, fut), out in zip(batch, outcomes, strict=True):
            if isinstance(out, BaseException):
                fut.set_exception(out)
            else:
                fut.set_result(out)
