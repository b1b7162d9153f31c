"""change feed: the transactional outbox, its consumers and webhook subscriptions

Revision ID: 0007
Revises: 0006_dashboard
Create Date: 2026-12-04 19:00:00.000000

Every stock-position change and order event writes an `outbox` row from a trigger, in the
changing transaction (data/outbox_triggers.py, version 1). The sequencer stamps committed
rows with the stream order (`seq`); relays deliver the stream to webhook subscriptions and a
broker, each consumer with its cursor in `outbox_consumers`. The stream starts with a
snapshot of the positions that hold stock.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.outbox_triggers import (
    PG_DROP_FUNCTIONS_V1,
    PG_DROP_V1,
    SQLITE_DROP_V1,
    enable_statements,
)

revision: str = '0007'
down_revision: str | None = '0006_dashboard'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        'outbox',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=True),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('node_id', sa.Integer(), nullable=True),
        sa.Column('sku_id', sa.Integer(), nullable=True),
        *[sa.Column(c, sa.Integer(), nullable=True) for c in (
            'old_on_hand', 'new_on_hand', 'old_reserved', 'new_reserved', 'old_safety',
            'new_safety')],
        sa.Column('network_atp', sa.BigInteger(), nullable=True),
        sa.Column('order_event_id', sa.BigInteger(), nullable=True),
        sa.Column('order_id', sa.BigInteger(), nullable=True),
        sa.Column('created_ts', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
        sa.UniqueConstraint('seq', name=op.f('uq_outbox_seq')),
    )
    op.create_index('ix_outbox_unsequenced', 'outbox', ['id'],
                    postgresql_where=sa.text('seq IS NULL'),
                    sqlite_where=sa.text('seq IS NULL'))
    op.create_table(
        'outbox_network_atp',
        sa.Column('sku_id', sa.Integer(), nullable=False),
        sa.Column('atp', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('sku_id', name=op.f('pk_outbox_network_atp')),
    )
    op.create_table(
        'outbox_consumers',
        sa.Column('name', sa.String(60), nullable=False),
        sa.Column('cursor', sa.BigInteger(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('first_failed_ts', sa.Float(), nullable=True),
        sa.Column('next_attempt_ts', sa.Float(), nullable=False),
        sa.Column('last_error', sa.String(500), nullable=True),
        sa.Column('lease_owner', sa.String(80), nullable=True),
        sa.Column('lease_until', sa.Float(), nullable=False),
        sa.Column('delivered', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_outbox_consumers')),
    )
    op.create_table(
        'webhook_subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(2000), nullable=False),
        sa.Column('secret', sa.String(200), nullable=False),
        sa.Column('event_types', sa.JSON(), nullable=False),
        sa.Column('nodes', sa.JSON(), nullable=True),
        sa.Column('description', sa.String(300), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions')),
    )
    op.create_table(
        'webhook_dead_letters',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(500), nullable=True),
        sa.Column('dead_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('redelivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id'],
                                name=op.f('fk_webhook_dead_letters_subscription_id_'
                                          'webhook_subscriptions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_dead_letters')),
    )
    op.create_index(op.f('ix_webhook_dead_letters_subscription_id'), 'webhook_dead_letters',
                    ['subscription_id'])
    for sql in enable_statements(sqlite):
        op.execute(sql)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for sql in SQLITE_DROP_V1 if sqlite else PG_DROP_V1 + PG_DROP_FUNCTIONS_V1:
        op.execute(sql)
    op.drop_index(op.f('ix_webhook_dead_letters_subscription_id'), 'webhook_dead_letters')
    op.drop_table('webhook_dead_letters')
    op.drop_table('webhook_subscriptions')
    op.drop_table('outbox_consumers')
    op.drop_table('outbox_network_atp')
    op.drop_index('ix_outbox_unsequenced', 'outbox')
    op.drop_table('outbox')
