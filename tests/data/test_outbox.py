"""The outbox on SQLite and PostgreSQL: every change has its event, in order, none invented."""

from __future__ import annotations

import threading
from collections import defaultdict

from sqlalchemy import text

from data import ledger, outbox
from data.db import Database
from fulfilment.events.cloudevents import from_row
from tests.factories import seed_tiny

PAIR = ("ST-0001", "SKU-A")


def stream(db: Database) -> list:
    """Every event of the stream after sequencing whatever is committed."""
    while outbox.sequence(db).count:
        pass
    out, after = [], 0
    while rows := outbox.read_after(db, after, 1000):
        out += [from_row(r) for r in rows]
        after = out[-1].seq
    return out


def rebuild(events: list) -> tuple[dict, dict]:
    """Per-position state and network ATP per SKU, rebuilt from availability events only,
    checking that each change starts where the previous one of its position ended."""
    state: dict[tuple[str, str], tuple[int, int, int]] = {}
    network: dict[str, int] = {}
    for e in events:
        if e.type == "availability.resync":
            state.clear()
            network.clear()
            continue
        if e.type != "availability.changed":
            continue
        d = e.body["data"]
        key = (d["node"], d["sku"])
        if not d["snapshot"]:
            assert state.get(key, (0, 0, 0)) == (d["on_hand"]["old"], d["reserved"]["old"],
                                                 d["safety_stock"]["old"]), (e.seq, key)
        state[key] = (d["on_hand"]["new"], d["reserved"]["new"], d["safety_stock"]["new"])
        network[d["sku"]] = d["network_atp"]
    return state, network


def db_state(db: Database) -> tuple[dict, dict]:
    """Positions with stock and network ATP per SKU, read from the tables."""
    with db.engine.connect() as c:
        rows = c.execute(text("SELECT n.code, k.code, p.on_hand, p.reserved, p.safety_stock "
                              "FROM stock_positions p JOIN nodes n ON n.id = p.node_id "
                              "JOIN skus k ON k.id = p.sku_id")).all()
    state = {(n, k): (o, r, s) for n, k, o, r, s in rows if (o, r, s) != (0, 0, 0)}
    network: dict[str, int] = defaultdict(int)
    for (_, k), (o, r, s) in state.items():
        network[k] += max(0, o - r - s)
    return state, dict(network)


def test_each_ledger_change_writes_one_event_with_old_and_new(database: Database) -> None:
    seed_tiny(database, {PAIR: 10, ("DC-DAL", "SKU-A"): 50})
    with database.transaction() as s:
        key = ledger.resolve(s, [PAIR])[PAIR]
        ledger.sell(s, key, 3, reference="POS-1")
        rid = ledger.reserve(s, key, 2, reference="web-1")
    with database.transaction() as s:
        ledger.release(s, rid)
    events = [e for e in stream(database) if e.type == "availability.changed"]
    mine = [e.body["data"] for e in events if e.body["data"]["node"] == "ST-0001"]
    assert [(d["on_hand"]["old"], d["on_hand"]["new"]) for d in mine] == [
        (0, 10), (10, 7), (7, 7), (7, 7)]
    assert [(d["reserved"]["old"], d["reserved"]["new"]) for d in mine] == [
        (0, 0), (0, 0), (0, 2), (2, 0)]
    assert [d["atp"]["new"] for d in mine] == [10, 7, 5, 7]
    assert [d["network_atp"] for d in mine] == [10, 57, 55, 57]  # DC-DAL's 50 came second
    seqs = [e.seq for e in stream(database)]
    assert seqs == list(range(1, len(seqs) + 1))  # gapless, from 1


def test_a_rolled_back_change_leaves_no_event(database: Database) -> None:
    seed_tiny(database, {PAIR: 10})
    before = len(stream(database))
    try:
        with database.transaction() as s:
            ledger.sell(s, ledger.resolve(s, [PAIR])[PAIR], 4)
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    assert len(stream(database)) == before


def test_concurrent_writers_rebuild_exactly_the_database(database: Database) -> None:
    pairs = [(n, k) for n in ("DC-DAL", "ST-0001", "ST-0002") for k in ("SKU-A", "SKU-B")]
    seed_tiny(database, {p: 200 for p in pairs})
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for j in range(25):
                p = pairs[(i * 7 + j) % len(pairs)]
                q = pairs[(i + j * 5) % len(pairs)]

                def work(s, p=p, q=q, j=j):  # type: ignore[no-untyped-def]
                    keys = ledger.resolve(s, [p, q])
                    ledger.lock_positions(s, sorted({(keys[x].node_id, keys[x].sku_id)
                                                     for x in (p, q)}))
                    ledger.sell(s, keys[p], 1)
                    ledger.receive(s, keys[q], 1 + j % 3)
                    if j % 4 == 0:
                        ledger.reserve(s, keys[q], 1, reference=f"r{i}-{j}")
                database.run(work)
                if j % 5 == 0:
                    outbox.sequence(database)  # sequencers race the writers too
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = stream(database)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert rebuild(events) == db_state(database)


def test_switching_off_and_on_starts_again_with_a_snapshot(database: Database) -> None:
    seed_tiny(database, {PAIR: 10})
    stream(database)
    outbox.disable(database)
    assert not outbox.enabled(database)
    with database.transaction() as s:
        ledger.sell(s, ledger.resolve(s, [PAIR])[PAIR], 4)  # nobody hears of this one
    outbox.enable(database)
    assert outbox.enabled(database)
    events = stream(database)
    assert rebuild(events) == db_state(database)
    last = events[-1].body["data"]
    assert last["snapshot"] and last["on_hand"]["new"] == 6 and last["network_atp"] == 6
