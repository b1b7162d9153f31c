"""Days of cover and stock risk per (node, SKU), as SQL the stock indexes are built on.

A forecast run stores each position's daily demand rate in `stock_positions.demand_rate`
(the mean of its forecast over the horizon; NULL without a forecast). Days of cover and
the risk class are then expressions of one row, so migration 0005 can index them and the
dashboard can walk an index in sort order instead of sorting 3.4 million rows.

The expressions below are spelled exactly as in the indexes of migrations 0005 and 0006:
SQLite and PostgreSQL use an index on an expression only for the same expression, so change
them only together with a new migration (tests/dashboard checks the planner still uses them).
"""

from __future__ import annotations

LOW_COVER_DAYS = 7.0
# Risk classes in index order: out of stock, low (no ATP or under a week of cover), ok.
RISK_CODES = {"out": 0, "low": 1, "ok": 2}
RISK_NAMES = {v: k for k, v in RISK_CODES.items()}

ATP_SQL = ("(CASE WHEN on_hand - reserved - safety_stock > 0 "
           "THEN on_hand - reserved - safety_stock ELSE 0 END)")
# Shelf units (never below zero) over the daily rate; NULL without a positive rate.
COVER_SQL = ("(CASE WHEN demand_rate > 0 THEN (CASE WHEN on_hand - reserved > 0 "
             "THEN on_hand - reserved ELSE 0 END) / demand_rate END)")
RISK_SQL = ("(CASE WHEN on_hand <= 0 THEN 0 WHEN on_hand - reserved - safety_stock <= 0 "
            "OR (demand_rate > 0 AND on_hand - reserved < 7.0 * demand_rate) THEN 1 ELSE 2 END)")

# name -> indexed expressions (migration 0006). Each leads with the risk class and the SKU's
# category (`stock_positions.category`, kept by triggers from `skus.category`), so a risk or
# category filter is an index prefix and a network-wide sort merges one ordered range per
# (risk class, category). The node sort walks (class, category, node) per node, the SKU sort
# (class, SKU) per SKU.
INDEXES = {
    "ix_stock_positions_risk_cat_on_hand": (RISK_SQL, "category", "on_hand", "node_id", "sku_id"),
    "ix_stock_positions_risk_cat_reserved": (RISK_SQL, "category", "reserved", "node_id",
                                             "sku_id"),
    "ix_stock_positions_risk_cat_safety": (RISK_SQL, "category", "safety_stock", "node_id",
                                           "sku_id"),
    "ix_stock_positions_risk_cat_atp": (RISK_SQL, "category", ATP_SQL, "node_id", "sku_id"),
    "ix_stock_positions_risk_cat_cover": (RISK_SQL, "category", COVER_SQL, "node_id", "sku_id"),
    "ix_stock_positions_risk_cat_node": (RISK_SQL, "category", "node_id", "sku_id"),
    "ix_stock_positions_risk_sku": (RISK_SQL, "sku_id", "node_id"),
}


def risk_of(on_hand: int, reserved: int, safety_stock: int, rate: float | None) -> str:
    """The risk class of one position, in Python (the same rule as RISK_SQL)."""
    if on_hand <= 0:
        return "out"
    if on_hand - reserved - safety_stock <= 0 or (
            rate is not None and rate > 0 and on_hand - reserved < LOW_COVER_DAYS * rate):
        return "low"
    return "ok"


