"""Alembic migrations of the store, run by `Store.open` (see sipwarden.store.migrate)."""
