"""Persistence (SQLAlchemy models, migrations, the stock ledger) and reference data."""
