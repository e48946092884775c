"""Schema migrations, run programmatically: opening a store upgrades it to the newest revision."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final


def _quiet_alembic() -> None:
    # Alembic announces its plugins and dialect at INFO on import and on every run; opening a store
    # is routine, so keep that chatter out of operator logs unless someone set the level on purpose.
    logger = logging.getLogger("alembic")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


_quiet_alembic()

from alembic import command  # noqa: E402  (after _quiet_alembic: importing logs)
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy.engine import Connection, Engine  # noqa: E402

log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock held while migrating, so that hub replicas starting together
#: migrate one after the other instead of racing to create the same tables ("sipw" in ASCII).
PG_MIGRATION_LOCK: Final = 0x73697077


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    """The newest revision the packaged migrations know."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database behind `engine` to the head revision, in one transaction."""
    cfg = _config()
    # sqlite_begin: take the write lock at BEGIN so two processes opening a new file serialize.
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
        before = current_revision(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        after = current_revision(conn)
    if before != after:
        log.info("store schema upgraded from %s to %s", before or "(empty)", after)
