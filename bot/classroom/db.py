"""The classroom's tables, in the same SQL database as the conversations, and their migrations.

The schema is Alembic's (``migrations/``): ``migrate()`` brings a database to the newest
revision, idempotently, under a PostgreSQL advisory lock so several servers starting together
migrate once. The tables sit beside Rasa's ``events`` table and never touch it, except when a
teacher removes a student's data.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import sqlalchemy as sa

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "tutor_alembic_version"
_ADVISORY_LOCK = 0x7475746F72  # "tutor"

metadata = sa.MetaData()

teachers = sa.Table(
    "tutor_teachers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("token_id", sa.String(32), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

classes = sa.Table(
    "tutor_classes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("teacher_id", sa.Integer, sa.ForeignKey("tutor_teachers.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("join_code", sa.String(16), nullable=False, unique=True),
    sa.Column("pseudonymise", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
)

memberships = sa.Table(
    "tutor_memberships",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255), nullable=False, unique=True),
    sa.Column("class_id", sa.Integer, sa.ForeignKey("tutor_classes.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("joined_at", sa.Float, nullable=False),
)

throttle = sa.Table(
    "tutor_throttle",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_tutor_throttle_kind_key_at", "kind", "key", "at"),
)

secrets = sa.Table(
    "tutor_secrets",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)

_migrated: set[str] = set()
_lock = threading.Lock()


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: sa.engine.Engine) -> None:
    """Bring the database to the newest classroom revision (once per process and database)."""
    key = engine.url.render_as_string(hide_password=True)
    with _lock:
        if key in _migrated:
            return
        from alembic import command

        config = _alembic_config()
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        _migrated.add(key)


def revision(engine: sa.engine.Engine) -> str | None:
    """The database's classroom revision (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


@cache
def engine_for(url: str) -> sa.engine.Engine:
    """One engine per database URL, migrated before first use."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 15})
    else:
        engine = sa.create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    migrate(engine)
    return engine


def database_url(env: Mapping[str, str] | None = None) -> str:
    """The conversations' database, as the chosen endpoints file configures the tracker store."""
    from bot.server.stores import database_url as conversations_url

    return conversations_url(env)


@cache
def conversations_engine() -> sa.engine.Engine:
    """This process's engine for the conversations' database (its settings do not change while it runs)."""
    return engine_for(database_url())
