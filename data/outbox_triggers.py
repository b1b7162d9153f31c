"""The outbox triggers, version 1: every stock-position change and order event writes its
outbox row inside the changing statement, so no path (ORM, raw batch writer, bulk load,
hand-written SQL) can change stock without its event, and no event exists without its
committed change.

Frozen: migration 0007 installs these; a change is a new version and a new migration.
PostgreSQL uses statement-level triggers with transition tables (one INSERT ... SELECT per
statement: the batch writer's multi-row UPDATE costs one insert, not one per row).
"""

from __future__ import annotations

SQLITE_NOW = "((julianday('now') - 2440587.5) * 86400.0)"
PG_NOW = "extract(epoch FROM clock_timestamp())"
COLS = ("kind, node_id, sku_id, old_on_hand, new_on_hand, old_reserved, new_reserved, "
        "old_safety, new_safety, created_ts")

SQLITE_V1 = (
    "CREATE TRIGGER trg_outbox_position_insert AFTER INSERT ON stock_positions FOR EACH ROW "
    "WHEN NEW.on_hand <> 0 OR NEW.reserved <> 0 OR NEW.safety_stock <> 0 "
    f"BEGIN INSERT INTO outbox ({COLS}) VALUES ('stock', NEW.node_id, NEW.sku_id, 0, "
    f"NEW.on_hand, 0, NEW.reserved, 0, NEW.safety_stock, {SQLITE_NOW}); END",
    "CREATE TRIGGER trg_outbox_position_update AFTER UPDATE OF on_hand, reserved, "
    "safety_stock ON stock_positions FOR EACH ROW WHEN OLD.on_hand <> NEW.on_hand "
    "OR OLD.reserved <> NEW.reserved OR OLD.safety_stock <> NEW.safety_stock "
    f"BEGIN INSERT INTO outbox ({COLS}) VALUES ('stock', NEW.node_id, NEW.sku_id, "
    "OLD.on_hand, NEW.on_hand, OLD.reserved, NEW.reserved, OLD.safety_stock, "
    f"NEW.safety_stock, {SQLITE_NOW}); END",
    "CREATE TRIGGER trg_outbox_position_delete AFTER DELETE ON stock_positions FOR EACH ROW "
    "WHEN OLD.on_hand <> 0 OR OLD.reserved <> 0 OR OLD.safety_stock <> 0 "
    f"BEGIN INSERT INTO outbox ({COLS}) VALUES ('stock', OLD.node_id, OLD.sku_id, "
    f"OLD.on_hand, 0, OLD.reserved, 0, OLD.safety_stock, 0, {SQLITE_NOW}); END",
    "CREATE TRIGGER trg_outbox_order_event AFTER INSERT ON order_events FOR EACH ROW "
    "BEGIN INSERT INTO outbox (kind, node_id, order_event_id, order_id, created_ts) "
    f"VALUES ('order', NEW.node_id, NEW.id, NEW.order_id, {SQLITE_NOW}); END",
)
SQLITE_DROP_V1 = tuple(f"DROP TRIGGER IF EXISTS {t}" for t in (
    "trg_outbox_position_insert", "trg_outbox_position_update",
    "trg_outbox_position_delete", "trg_outbox_order_event"))

_PG_FN = ("CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
          "SET search_path FROM CURRENT AS $$ BEGIN {body}; RETURN NULL; END $$")
PG_FUNCTIONS_V1 = (
    _PG_FN.format(name="omni_outbox_position_ins", body=(
        f"INSERT INTO outbox ({COLS}) SELECT 'stock', n.node_id, n.sku_id, 0, n.on_hand, 0, "
        f"n.reserved, 0, n.safety_stock, {PG_NOW} FROM new_rows n WHERE n.on_hand <> 0 "
        "OR n.reserved <> 0 OR n.safety_stock <> 0 ORDER BY n.node_id, n.sku_id")),
    _PG_FN.format(name="omni_outbox_position_upd", body=(
        f"INSERT INTO outbox ({COLS}) SELECT 'stock', n.node_id, n.sku_id, o.on_hand, "
        f"n.on_hand, o.reserved, n.reserved, o.safety_stock, n.safety_stock, {PG_NOW} "
        "FROM new_rows n JOIN old_rows o ON o.node_id = n.node_id AND o.sku_id = n.sku_id "
        "WHERE o.on_hand <> n.on_hand OR o.reserved <> n.reserved "
        "OR o.safety_stock <> n.safety_stock ORDER BY n.node_id, n.sku_id")),
    _PG_FN.format(name="omni_outbox_position_del", body=(
        f"INSERT INTO outbox ({COLS}) SELECT 'stock', o.node_id, o.sku_id, o.on_hand, 0, "
        f"o.reserved, 0, o.safety_stock, 0, {PG_NOW} FROM old_rows o WHERE o.on_hand <> 0 "
        "OR o.reserved <> 0 OR o.safety_stock <> 0 ORDER BY o.node_id, o.sku_id")),
    _PG_FN.format(name="omni_outbox_order_event", body=(
        "INSERT INTO outbox (kind, node_id, order_event_id, order_id, created_ts) "
        f"SELECT 'order', n.node_id, n.id, n.order_id, {PG_NOW} FROM new_rows n "
        "ORDER BY n.id")),
)
PG_TRIGGERS_V1 = (
    "CREATE TRIGGER trg_outbox_position_ins AFTER INSERT ON stock_positions "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION omni_outbox_position_ins()",
    "CREATE TRIGGER trg_outbox_position_upd AFTER UPDATE ON stock_positions "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION omni_outbox_position_upd()",
    "CREATE TRIGGER trg_outbox_position_del AFTER DELETE ON stock_positions "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION omni_outbox_position_del()",
    "CREATE TRIGGER trg_outbox_order_event AFTER INSERT ON order_events "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION omni_outbox_order_event()",
)
PG_DROP_V1 = (
    "DROP TRIGGER IF EXISTS trg_outbox_position_ins ON stock_positions",
    "DROP TRIGGER IF EXISTS trg_outbox_position_upd ON stock_positions",
    "DROP TRIGGER IF EXISTS trg_outbox_position_del ON stock_positions",
    "DROP TRIGGER IF EXISTS trg_outbox_order_event ON order_events",
)
PG_DROP_FUNCTIONS_V1 = tuple(f"DROP FUNCTION IF EXISTS {f}()" for f in (
    "omni_outbox_position_ins", "omni_outbox_position_upd", "omni_outbox_position_del",
    "omni_outbox_order_event"))
TRIGGER_NAMES_SQLITE = ("trg_outbox_position_insert", "trg_outbox_position_update",
                        "trg_outbox_position_delete", "trg_outbox_order_event")
TRIGGER_NAMES_PG = ("trg_outbox_position_ins", "trg_outbox_position_upd",
                    "trg_outbox_position_del", "trg_outbox_order_event")

# A snapshot starts the stream again: a resync marker, then every position with stock.
MARKER = "INSERT INTO outbox (kind, created_ts) VALUES ('resync', {now})"
SNAPSHOT = (f"INSERT INTO outbox ({COLS}) SELECT 'stock', node_id, sku_id, NULL, on_hand, "
            "NULL, reserved, NULL, safety_stock, {now} FROM stock_positions "
            "WHERE on_hand <> 0 OR reserved <> 0 OR safety_stock <> 0 ORDER BY node_id, sku_id")


def enable_statements(sqlite: bool) -> list[str]:
    """SQL that snapshots the positions and installs the triggers (one transaction)."""
    now = SQLITE_NOW if sqlite else PG_NOW
    # PostgreSQL: no position changes between the snapshot and the triggers.
    lock = [] if sqlite else ["LOCK TABLE stock_positions, order_events IN SHARE ROW "
                              "EXCLUSIVE MODE"]
    install = list(SQLITE_DROP_V1 + SQLITE_V1) if sqlite else list(
        PG_DROP_V1 + PG_FUNCTIONS_V1 + PG_TRIGGERS_V1)
    return [*lock, MARKER.format(now=now), SNAPSHOT.format(now=now), *install]


def disable_statements(sqlite: bool) -> list[str]:
    """SQL that removes the triggers: changes stop reaching the outbox."""
    return list(SQLITE_DROP_V1 if sqlite else PG_DROP_V1)
