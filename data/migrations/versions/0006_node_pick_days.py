"""pick units reserved per node and day

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 19:40:00.000000

A counter row per (node, UTC day) of the units reserved that day and not released, kept by
data/ledger.py in the transaction of each reservation and release. Pick capacity left is
then one small read instead of summing the day's reservations for every order. Backfilled
from the reservations already there.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'node_pick_days',
        sa.Column('node_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('units', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['node_id'], ['nodes.id'],
                                name=op.f('fk_node_pick_days_node_id_nodes')),
        sa.PrimaryKeyConstraint('node_id', 'day', name=op.f('pk_node_pick_days')),
    )
    bind = op.get_bind()
    day = ("date(created_at)" if bind.dialect.name == "sqlite"
           else "CAST(created_at AT TIME ZONE 'UTC' AS DATE)")
    op.execute(
        f"INSERT INTO node_pick_days (node_id, day, units) "
        f"SELECT node_id, {day}, SUM(qty) FROM reservations WHERE status <> 'released' "
        f"GROUP BY node_id, {day}")


def downgrade() -> None:
    op.drop_table('node_pick_days')
