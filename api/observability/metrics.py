"""Prometheus metrics of one app: request latency per route, decisions, conflicts, re-routes."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's metrics in a registry of their own (one per app, so tests do not clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram("omni_http_request_duration_seconds",
                                 "HTTP request latency by route template.",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS,
                                 registry=r)
        self.decisions = Counter("omni_allocation_units_total",
                                 "Units sourced by fulfilment method (and unfilled).",
                                 ["method"], registry=r)
        self.orders = Counter("omni_allocations_total", "Orders allocated, by status.",
                              ["status"], registry=r)
        self.conflicts = Counter("omni_reservation_conflicts_total",
                                 "Reservations lost to a concurrent writer (re-decided or "
                                 "refused).", registry=r)
        self.transitions = Counter("omni_order_line_transitions_total",
                                   "Order-line transitions by action.", ["action"], registry=r)
        self.reroutes = Counter("omni_reroutes_total", "Lines re-routed after a rejection.",
                                ["reason"], registry=r)
        self.price_failures = Counter("omni_price_refresh_failures_total",
                                      "Stock price refreshes that failed (the previous prices "
                                      "stay in use; the log has each error).",
                                      registry=self.registry)
        self.events = Counter("omni_events_total", "Change-feed events by outcome "
                              "(delivered, failed attempt, dead-lettered) and consumer kind "
                              "(webhook, nats), by this worker's relay.",
                              ["outcome", "consumer"], registry=r)
        self.expired = Counter("omni_pickups_expired_total",
                               "Pickup lines expired by the sweeper.", registry=r)

    def decision(self, out: dict[str, Any]) -> None:
        """Count a committed allocation: its status, units per method, lost races."""
        self.orders.labels(out.get("status", "unknown")).inc()
        d = out.get("decision") or {}
        for line in d.get("lines", []):
            for a in line.get("allocations", []):
                self.decisions.labels(a["method"]).inc(a["qty"])
            if line.get("unfilled"):
                self.decisions.labels("unfilled").inc(line["unfilled"])
        if d.get("attempts", 1) > 1:
            self.conflicts.inc(d["attempts"] - 1)

    def transition(self, action: str, lines: int, reason: str | None = None) -> None:
        """Count transitions of `lines` lines; a reject is also a re-route."""
        self.transitions.labels(action).inc(lines)
        if action == "reject":
            self.reroutes.labels(reason or "unknown").inc(lines)

    def event(self, outcome: str, consumer: str) -> None:
        """Count one relay outcome (the consumer's kind, not its id: bounded labels)."""
        self.events.labels(outcome, consumer.split(":", 1)[0]).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
