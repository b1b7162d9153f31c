"""stock demand rates and stock page indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:50:00.000000

Each stock position gets the daily demand rate of its latest forecast (backfilled from the
stored forecasts), and indexes on (risk class, sort key, node, SKU) so the dashboard's stock
page walks an index in sort order and stops at its page. The expressions are spelled as in
data/stock_cover.py (copied, so this migration never changes with that module).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ATP = ("(CASE WHEN on_hand - reserved - safety_stock > 0 "
       "THEN on_hand - reserved - safety_stock ELSE 0 END)")
COVER = ("(CASE WHEN demand_rate > 0 THEN (CASE WHEN on_hand - reserved > 0 "
         "THEN on_hand - reserved ELSE 0 END) / demand_rate END)")
RISK = ("(CASE WHEN on_hand <= 0 THEN 0 WHEN on_hand - reserved - safety_stock <= 0 "
        "OR (demand_rate > 0 AND on_hand - reserved < 7.0 * demand_rate) THEN 1 ELSE 2 END)")
INDEXES = {
    "ix_stock_positions_risk_on_hand": (RISK, "on_hand", "node_id", "sku_id"),
    "ix_stock_positions_risk_reserved": (RISK, "reserved", "node_id", "sku_id"),
    "ix_stock_positions_risk_safety": (RISK, "safety_stock", "node_id", "sku_id"),
    "ix_stock_positions_risk_atp": (RISK, ATP, "node_id", "sku_id"),
    "ix_stock_positions_risk_cover": (RISK, COVER, "node_id", "sku_id"),
    "ix_stock_positions_risk_node": (RISK, "node_id", "sku_id"),
    "ix_stock_positions_risk_sku": (RISK, "sku_id", "node_id"),
}


def upgrade() -> None:
    op.add_column('stock_positions', sa.Column('demand_rate', sa.Float(), nullable=True))
    op.execute(
        "UPDATE stock_positions SET demand_rate = (SELECT avg(f.mean) FROM forecasts f "
        "WHERE f.node_id = stock_positions.node_id AND f.sku_id = stock_positions.sku_id) "
        "WHERE EXISTS (SELECT 1 FROM forecasts f WHERE f.node_id = stock_positions.node_id "
        "AND f.sku_id = stock_positions.sku_id)")
    for name, cols in INDEXES.items():
        op.create_index(name, 'stock_positions',
                        [sa.text(c) if c.startswith("(") else c for c in cols])
    # The category sort walks SKUs by (category, id) (SQLite's category index has the id;
    # PostgreSQL's does not).
    op.create_index('ix_skus_category_id', 'skus', ['category', 'id'])


def downgrade() -> None:
    op.drop_index('ix_skus_category_id', table_name='skus')
    for name in INDEXES:
        op.drop_index(name, table_name='stock_positions')
    with op.batch_alter_table('stock_positions', schema=None) as batch_op:
        batch_op.drop_column('demand_rate')
