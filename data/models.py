"""SQLAlchemy 2.0 typed models: network, catalogue, stock ledger, orders and reservations."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger primary keys autoincrement on PostgreSQL; SQLite needs plain INTEGER for rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    """Current time in UTC (timezone-aware)."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with the project's naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class NodeKind(enum.StrEnum):
    """A node is a distribution centre or a store."""

    dc = "dc"
    store = "store"


class EventKind(enum.StrEnum):
    """Every kind of stock change the ledger records."""

    receipt = "receipt"  # goods in: +on_hand
    sale = "sale"  # POS sale to a walk-in shopper: -on_hand
    adjustment = "adjustment"  # cycle count, damage, shrink: +/- on_hand
    reserve = "reserve"  # online order takes ATP: +reserved
    release = "release"  # reservation cancelled or expired: -reserved
    ship = "ship"  # reserved units leave (shipped or collected): -on_hand, -reserved
    transfer_out = "transfer_out"  # stock moved to another node: -on_hand
    transfer_in = "transfer_in"  # stock arrived from another node: +on_hand


class ReservationStatus(enum.StrEnum):
    """Life of one reservation."""

    open = "open"
    released = "released"
    consumed = "consumed"


class OrderStatus(enum.StrEnum):
    """Coarse order status; the line states carry the detail."""

    open = "open"
    partially_allocated = "partially_allocated"
    allocated = "allocated"
    fulfilled = "fulfilled"
    cancelled = "cancelled"


class Node(Base):
    """A DC or a store that holds stock."""

    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[NodeKind] = mapped_column(Enum(NodeKind, name="node_kind", native_enum=False))
    address: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(2), default="")
    zip: Mapped[str] = mapped_column(String(5))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    ship_from_store: Mapped[bool] = mapped_column(Boolean, default=False)
    click_and_collect: Mapped[bool] = mapped_column(Boolean, default=False)
    pick_capacity_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pick_cost_per_unit: Mapped[float] = mapped_column(Float, default=0.0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        CheckConstraint("pick_cost_per_unit >= 0", name="pick_cost_nonneg"),
        CheckConstraint(
            "pick_capacity_per_day IS NULL OR pick_capacity_per_day >= 0", name="capacity_nonneg"
        ),
    )


class Sku(Base):
    """A sellable item of the catalogue."""

    __tablename__ = "skus"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(60), index=True)
    weight_lb: Mapped[float] = mapped_column(Float)
    unit_price: Mapped[float] = mapped_column(Float)
    unit_cost: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        CheckConstraint("weight_lb > 0", name="weight_pos"),
        CheckConstraint("unit_price >= 0 AND unit_cost >= 0", name="money_nonneg"),
    )


class StockPosition(Base):
    """Current on-hand and reserved units of one SKU at one node, kept with the ledger."""

    __tablename__ = "stock_positions"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Mean daily demand from the latest forecast run (NULL: no forecast); see data.stock_cover.
    demand_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The SKU's category, kept by database triggers (migration 0006_dashboard) so the stock
    # page's indexes can lead with it; nothing in the code writes it.
    category: Mapped[str | None] = mapped_column(String(60), nullable=True)

    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_nonneg"),
        CheckConstraint("reserved >= 0", name="reserved_nonneg"),
        CheckConstraint("safety_stock >= 0", name="safety_nonneg"),
        Index("ix_stock_positions_sku_node", "sku_id", "node_id"),
    )


class NodePickDay(Base):
    """Units reserved at a node on one UTC day and not released: its pick load that day."""

    __tablename__ = "node_pick_days"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    units: Mapped[int] = mapped_column(Integer)


class StockEvent(Base):
    """One append-only ledger entry; positions are the running sums of these."""

    __tablename__ = "stock_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    recorded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    kind: Mapped[EventKind] = mapped_column(Enum(EventKind, name="event_kind", native_enum=False))
    delta_on_hand: Mapped[int] = mapped_column(Integer, default=0)
    delta_reserved: Mapped[int] = mapped_column(Integer, default=0)
    reference: Mapped[str | None] = mapped_column(String(120), nullable=True)
    # Caller's id of an inventory-feed event: makes replays of the same feed harmless.
    event_id: Mapped[str | None] = mapped_column(String(120), nullable=True, unique=True)
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reservations.id"), nullable=True
    )

    __table_args__ = (Index("ix_stock_events_node_sku", "node_id", "sku_id"),)


class IdempotencyKey(Base):
    """The stored outcome of a request made with an idempotency key."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    scope: Mapped[str] = mapped_column(String(60))
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Order(Base):
    """An online order as received from an order system."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(120), unique=True)
    channel: Mapped[str] = mapped_column(String(40), default="web")
    method: Mapped[str] = mapped_column(String(20), default="ship")  # ship | pickup
    pickup_node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"), nullable=True)
    ship_zip: Mapped[str | None] = mapped_column(String(5), nullable=True)
    ship_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    ship_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[OrderStatus] = mapped_column(
        Enum(OrderStatus, name="order_status", native_enum=False), default=OrderStatus.open
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decision: Mapped[dict | None] = mapped_column(JSON, nullable=True)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.line_no"
    )


class OrderLine(Base):
    """One SKU and quantity of an order."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    qty: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(30), default="open")

    order: Mapped[Order] = relationship(back_populates="lines")

    __table_args__ = (
        UniqueConstraint("order_id", "line_no", name="uq_order_lines_order_line"),
        CheckConstraint("qty > 0", name="qty_pos"),
    )


class Reservation(Base):
    """Units of one SKU at one node set aside for an order line (or another reference)."""

    __tablename__ = "reservations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    qty: Mapped[int] = mapped_column(Integer)
    status: Mapped[ReservationStatus] = mapped_column(
        Enum(ReservationStatus, name="reservation_status", native_enum=False),
        default=ReservationStatus.open,
    )
    order_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("order_lines.id"), nullable=True, index=True
    )
    reference: Mapped[str | None] = mapped_column(String(120), nullable=True)
    method: Mapped[str | None] = mapped_column(String(30), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        CheckConstraint("qty > 0", name="qty_pos"),
        Index("ix_reservations_node_sku_status", "node_id", "sku_id", "status"),
    )


class SalesHistory(Base):
    """Daily units sold of one SKU at one store (nonzero days only), for forecasts."""

    __tablename__ = "sales_history"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    qty: Mapped[int] = mapped_column(Integer)


class ForecastRun(Base):
    """One network forecast: when, which model choice, how many series, how long."""

    __tablename__ = "forecast_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model: Mapped[str] = mapped_column(String(40))
    horizon: Mapped[int] = mapped_column(Integer)
    series: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    history_end: Mapped[dt.date] = mapped_column(Date)


class Forecast(Base):
    """Daily demand forecast of one SKU at one node from the latest run (mean and quantiles)."""

    __tablename__ = "forecasts"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id"), index=True)
    model: Mapped[str] = mapped_column(String(40))
    mean: Mapped[float] = mapped_column(Float)
    p05: Mapped[float] = mapped_column(Float)
    p50: Mapped[float] = mapped_column(Float)
    p90: Mapped[float] = mapped_column(Float)
    p95: Mapped[float] = mapped_column(Float)


class OrderEvent(Base):
    """One step in an order's life (allocated, accepted, rejected, shipped ...): its history."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    order_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("order_lines.id"), nullable=True, index=True
    )
    action: Mapped[str] = mapped_column(String(30))
    from_state: Mapped[str | None] = mapped_column(String(30), nullable=True)
    to_state: Mapped[str] = mapped_column(String(30))
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(120), nullable=True)
    detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_order_events_action_time", "action", "occurred_at"),)


class ApiKey(Base):
    """An API key: a public key id for look-up, the SHA-256 of the secret, scopes, a store."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(300))  # space-separated
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SimulationRun(Base):
    """A what-if simulation started over HTTP: its scenario, progress and KPIs."""

    __tablename__ = "simulation_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(Text)  # the scenario's TOML text
    seed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued|running|done|failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                            nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    kpis: Mapped[list | None] = mapped_column(JSON, nullable=True)
    bound: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    started_by: Mapped[str | None] = mapped_column(String(120), nullable=True)


# ---------------------------------------------------------------- change feed (outbox)
class OutboxEvent(Base):
    """One change to send to other channels, written by triggers in the changing transaction.

    `id` is the order of insertion; `seq` the order of the stream, assigned by the sequencer
    (data.outbox.sequence) to committed rows: gapless, and per item (position, order) in the
    order the changes committed. Stock rows carry the position before and after (old_* NULL:
    a snapshot row); order rows point at their `order_events` row.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # stock | order | resync
    node_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sku_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    old_on_hand: Mapped[int | None] = mapped_column(Integer, nullable=True)
    new_on_hand: Mapped[int | None] = mapped_column(Integer, nullable=True)
    old_reserved: Mapped[int | None] = mapped_column(Integer, nullable=True)
    new_reserved: Mapped[int | None] = mapped_column(Integer, nullable=True)
    old_safety: Mapped[int | None] = mapped_column(Integer, nullable=True)
    new_safety: Mapped[int | None] = mapped_column(Integer, nullable=True)
    network_atp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    order_event_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    order_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_ts: Mapped[float] = mapped_column(Float)  # epoch seconds at the change

    __table_args__ = (
        Index("ix_outbox_unsequenced", "id", postgresql_where="seq IS NULL",
              sqlite_where="seq IS NULL"),
    )


class OutboxNetworkAtp(Base):
    """The sequencer's running network ATP per SKU (sum of the latest per-node ATP sent)."""

    __tablename__ = "outbox_network_atp"

    sku_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    atp: Mapped[int] = mapped_column(BigInteger, default=0)


class OutboxConsumer(Base):
    """A reader of the stream (a webhook subscription, the broker publisher): its cursor,
    the retry state of its head event and the lease of the relay delivering to it."""

    __tablename__ = "outbox_consumers"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_ts: Mapped[float | None] = mapped_column(Float, nullable=True)
    next_attempt_ts: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_until: Mapped[float] = mapped_column(Float, default=0.0)
    delivered: Mapped[int] = mapped_column(BigInteger, default=0)


class WebhookSubscription(Base):
    """Where to POST which events: a URL, its signing secret, event types and nodes."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    event_types: Mapped[list] = mapped_column(JSON)  # e.g. ["availability.changed", "order.*"]
    nodes: Mapped[list | None] = mapped_column(JSON, nullable=True)  # node codes; NULL: all
    description: Mapped[str | None] = mapped_column(String(300), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDeadLetter(Base):
    """An event a subscription never accepted within the retry window."""

    __tablename__ = "webhook_dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"),
                                                 index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    dead_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    redelivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                               nullable=True)
