"""Deadlocks and serialization failures run the whole transaction again (bounded)."""

from __future__ import annotations

import random

import pytest

from data.db import TX_ATTEMPTS, is_transient, retry_transient


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class _Wrapped(Exception):
    """What SQLAlchemy raises: the driver's error in .orig."""

    def __init__(self, orig: Exception) -> None:
        super().__init__(str(orig))
        self.orig = orig


@pytest.mark.parametrize("exc", [_PgError("40P01"), _PgError("40001"), _Wrapped(_PgError("40P01"))])
def test_deadlock_and_serialization_failures_are_transient(exc: Exception) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [_PgError("23505"), ValueError("x"), _Wrapped(ValueError("x"))])
def test_other_errors_are_not(exc: Exception) -> None:
    assert not is_transient(exc)


def test_a_transient_failure_runs_again_and_returns_the_result() -> None:
    calls = []

    def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _Wrapped(_PgError("40P01"))
        return "done"

    assert retry_transient(work, rng=random.Random(0)) == "done"
    assert len(calls) == 3


def test_retries_are_bounded_and_other_errors_pass_at_once() -> None:
    calls = []

    def deadlocked() -> None:
        calls.append(1)
        raise _PgError("40P01")

    with pytest.raises(_PgError):
        retry_transient(deadlocked, rng=random.Random(0))
    assert len(calls) == TX_ATTEMPTS
    calls.clear()

    def broken() -> None:
        calls.append(1)
        raise KeyError("x")

    with pytest.raises(KeyError):
        retry_transient(broken)
    assert len(calls) == 1
    with pytest.raises(ValueError, match="attempts >= 1"):
        retry_transient(broken, attempts=0)
