"""Group commit: one writer thread commits the waiting write jobs together (SQLite).

SQLite has one writer. Instead of every request thread taking the write lock, beginning,
committing and handing the lock on (each commit writes its pages to the WAL), request
threads hand their job to one writer thread and wait. The writer takes every job that is
waiting, runs each inside its own SAVEPOINT of one transaction and commits once: a job
that raises rolls back to its savepoint only, and its caller gets the exception. Nobody
waits for a batch to fill: an idle writer takes a lone job at once, so a quiet service
commits each order as before and a busy one commits several per transaction.

A job's effects are durable only once its caller's call returns (after the COMMIT).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from data.db import Database, RawCursor

T = TypeVar("T")
log = logging.getLogger("omni.data")

Job = Callable[[RawCursor], Any]
_STOP = object()


class GroupCommitter:
    """Runs write jobs on one thread, as many per transaction as are waiting (max_batch)."""

    def __init__(self, db: Database, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError(f"expected max_batch >= 1, got {max_batch}")
        self.db = db
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # transactions committed (for tests and metrics)
        self.jobs_done = 0

    def run(self, job: Callable[[RawCursor], T]) -> T:
        """Run `job(cursor)` in the next group transaction; its result or its exception."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a group-commit job cannot wait for another job")
        return self.submit(job).result()

    def submit(self, job: Callable[[RawCursor], T]) -> Future[T]:
        """Queue `job(cursor)` for the next group transaction; done once it is committed."""
        self._ensure_started()
        fut: Future[T] = Future()
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
                    self._thread = threading.Thread(target=self._loop, name="group-commit",
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

    def _commit(self, batch: list[tuple[Job, Future[Any]]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.db.raw_transaction() as cur:
                for k, (job, _) in enumerate(batch):
                    cur.execute(f"SAVEPOINT job{k}")
                    try:
                        outcomes.append((True, job(cur)))
                        cur.execute(f"RELEASE job{k}")
                    except BaseException as exc:  # the job's caller gets it; others go on
                        cur.execute(f"ROLLBACK TO job{k}")
                        cur.execute(f"RELEASE job{k}")
                        outcomes.append((False, exc))
        except BaseException as exc:  # BEGIN or COMMIT failed: nothing of the batch stands
            log.exception("group commit of %d jobs failed", len(batch))
            for _, fut in batch:
                fut.set_exception(exc)
            return
        self.batches += 1
        self.jobs_done += len(batch)
        for (_, fut), (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)


def in_savepoint(cur: RawCursor, job: Callable[[RawCursor], T]) -> T:
    """Run `job(cur)` inside a savepoint of the current transaction (undone if it raises)."""
    cur.execute("SAVEPOINT attempt")
    try:
        out = job(cur)
    except BaseException:
        cur.execute("ROLLBACK TO attempt")
        cur.execute("RELEASE attempt")
        raise
    cur.execute("RELEASE attempt")
    return out
