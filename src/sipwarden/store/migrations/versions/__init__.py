"""One module per schema revision; Alembic orders them by `down_revision`."""
