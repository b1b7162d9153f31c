"""Use-cases between the HTTP edge and the core: allocate, quote, move orders through their
life, re-route, expire pickups, refresh stock prices, re-plan the backlog, apply feeds.

No FastAPI here (`api/` parses, authorises and maps errors; the CLI calls this package
too); the core (`allocation/`, `optimizer/`, `forecasting/`) decides; `data/` stores.
"""
