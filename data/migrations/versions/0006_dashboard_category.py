"""dashboard: SKU category on stock positions, stock page indexes by risk class and category

Revision ID: 0006_dashboard
Revises: 0006
Create Date: 2026-12-01 20:00:00.000000

A category filter on the stock page walked a sort index and skipped every position of the
other categories: a deep page of a small category read up to 700,000 positions (3 s on
PostgreSQL). Each position now carries its SKU's category (kept by triggers from
`skus.category`: nothing else writes it), and the stock page indexes lead with (risk class,
category), so every filter is an index prefix and a network-wide sort merges one ordered
range per (risk class, category).

The five (risk class, sort key) indexes of 0005 and the (risk class, node) one are replaced
(same count of indexes on stock_positions: a stock update maintains as many as before).
`ix_skus_category_id` and `ix_stock_positions_risk_sku` are created if missing: 0005 was
amended before release, and a database migrated with its first version lacks them.
The SQL is copied from data/stock_cover.py (a migration never changes with that module;
tests/dashboard checks the copies are equal).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_dashboard'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ATP = ("(CASE WHEN on_hand - reserved - safety_stock > 0 "
       "THEN on_hand - reserved - safety_stock ELSE 0 END)")
COVER = ("(CASE WHEN demand_rate > 0 THEN (CASE WHEN on_hand - reserved > 0 "
         "THEN on_hand - reserved ELSE 0 END) / demand_rate END)")
RISK = ("(CASE WHEN on_hand <= 0 THEN 0 WHEN on_hand - reserved - safety_stock <= 0 "
        "OR (demand_rate > 0 AND on_hand - reserved < 7.0 * demand_rate) THEN 1 ELSE 2 END)")
INDEXES = {
    "ix_stock_positions_risk_cat_on_hand": (RISK, "category", "on_hand", "node_id", "sku_id"),
    "ix_stock_positions_risk_cat_reserved": (RISK, "category", "reserved", "node_id", "sku_id"),
    "ix_stock_positions_risk_cat_safety": (RISK, "category", "safety_stock", "node_id",
                                           "sku_id"),
    "ix_stock_positions_risk_cat_atp": (RISK, "category", ATP, "node_id", "sku_id"),
    "ix_stock_positions_risk_cat_cover": (RISK, "category", COVER, "node_id", "sku_id"),
    "ix_stock_positions_risk_cat_node": (RISK, "category", "node_id", "sku_id"),
    "ix_stock_positions_risk_sku": (RISK, "sku_id", "node_id"),
}
# The indexes of 0005 this replaces (the downgrade builds them again).
OLD = {
    "ix_stock_positions_risk_on_hand": (RISK, "on_hand", "node_id", "sku_id"),
    "ix_stock_positions_risk_reserved": (RISK, "reserved", "node_id", "sku_id"),
    "ix_stock_positions_risk_safety": (RISK, "safety_stock", "node_id", "sku_id"),
    "ix_stock_positions_risk_atp": (RISK, ATP, "node_id", "sku_id"),
    "ix_stock_positions_risk_cover": (RISK, COVER, "node_id", "sku_id"),
    "ix_stock_positions_risk_node": (RISK, "node_id", "sku_id"),
}

SQLITE_TRIGGERS = (
    # A new position (or one moved to another SKU) takes its SKU's category.
    "CREATE TRIGGER trg_stock_positions_category AFTER INSERT ON stock_positions "
    "FOR EACH ROW WHEN NEW.category IS NOT (SELECT category FROM skus WHERE id = NEW.sku_id) "
    "BEGIN UPDATE stock_positions SET category = (SELECT category FROM skus "
    "WHERE id = NEW.sku_id) WHERE node_id = NEW.node_id AND sku_id = NEW.sku_id; END",
    "CREATE TRIGGER trg_stock_positions_category_update AFTER UPDATE OF sku_id, category "
    "ON stock_positions FOR EACH ROW "
    "WHEN NEW.category IS NOT (SELECT category FROM skus WHERE id = NEW.sku_id) "
    "BEGIN UPDATE stock_positions SET category = (SELECT category FROM skus "
    "WHERE id = NEW.sku_id) WHERE node_id = NEW.node_id AND sku_id = NEW.sku_id; END",
    # A SKU moved to another category moves its positions.
    "CREATE TRIGGER trg_skus_category AFTER UPDATE OF category ON skus FOR EACH ROW "
    "WHEN NEW.category IS NOT OLD.category "
    "BEGIN UPDATE stock_positions SET category = NEW.category WHERE sku_id = NEW.id; END",
)
# Functions pinned to the migration's search_path (tests migrate a schema of their own).
PG_TRIGGERS = (
    "CREATE FUNCTION omni_stock_position_category() RETURNS trigger LANGUAGE plpgsql "
    "SET search_path FROM CURRENT AS $$ BEGIN "
    "NEW.category := (SELECT category FROM skus WHERE id = NEW.sku_id); RETURN NEW; END $$",
    "CREATE TRIGGER trg_stock_positions_category BEFORE INSERT OR UPDATE OF sku_id, category "
    "ON stock_positions FOR EACH ROW EXECUTE FUNCTION omni_stock_position_category()",
    "CREATE FUNCTION omni_sku_category() RETURNS trigger LANGUAGE plpgsql "
    "SET search_path FROM CURRENT AS $$ BEGIN "
    "UPDATE stock_positions SET category = NEW.category WHERE sku_id = NEW.id; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER trg_skus_category AFTER UPDATE OF category ON skus FOR EACH ROW "
    "WHEN (OLD.category IS DISTINCT FROM NEW.category) EXECUTE FUNCTION omni_sku_category()",
)
PG_DROP = (
    "DROP TRIGGER IF EXISTS trg_skus_category ON skus",
    "DROP TRIGGER IF EXISTS trg_stock_positions_category ON stock_positions",
    "DROP FUNCTION IF EXISTS omni_sku_category()",
    "DROP FUNCTION IF EXISTS omni_stock_position_category()",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS trg_skus_category",
    "DROP TRIGGER IF EXISTS trg_stock_positions_category_update",
    "DROP TRIGGER IF EXISTS trg_stock_positions_category",
)


def _create(name: str, cols: tuple[str, ...]) -> None:
    op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON stock_positions ({', '.join(cols)})")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column('stock_positions', sa.Column('category', sa.String(60), nullable=True))
    for name in OLD:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("UPDATE stock_positions SET category = (SELECT category FROM skus "
               "WHERE skus.id = stock_positions.sku_id)")
    for sql in SQLITE_TRIGGERS if sqlite else PG_TRIGGERS:
        op.execute(sql)
    op.execute("CREATE INDEX IF NOT EXISTS ix_skus_category_id ON skus (category, id)")
    for name, cols in INDEXES.items():
        _create(name, cols)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in INDEXES:
        if name not in OLD and name != "ix_stock_positions_risk_sku":  # 0005's, kept
            op.execute(f"DROP INDEX IF EXISTS {name}")
    for sql in SQLITE_DROP if sqlite else PG_DROP:
        op.execute(sql)
    # Not batch mode: it would rebuild the table without the expression indexes of 0005.
    op.execute("ALTER TABLE stock_positions DROP COLUMN category")
    for name, cols in OLD.items():
        _create(name, cols)
