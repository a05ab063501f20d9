"""Where conversations live: SQLite by default, PostgreSQL + Redis to run several servers.

Rasa falls back to an in-memory tracker store when the configured one cannot be reached,
which would silently lose every conversation at the next restart. So before the servers
start, the configured stores are checked here, and an unreachable one stops the start
with the setting to fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.settings import BUILD_DIR, ROOT, SCALE_DEFAULTS, endpoints_choice

SQLITE_ENDPOINTS = ROOT / "endpoints.yml"
POSTGRES_ENDPOINTS = ROOT / "endpoints.postgres.yml"

class StoreUnavailable(RuntimeError):
    """A configured store cannot be reached; the message names the settings to check."""


def endpoints_file(env: Mapping[str, str] | None = None) -> Path:
    """The endpoints file chosen by ``TUTOR_ENDPOINTS`` (relative to the repository)."""
    chosen = endpoints_choice(env) or str(SQLITE_ENDPOINTS)
    path = Path(chosen)
    return path if path.is_absolute() else (ROOT / path)


def uses_scale_stores(endpoints: Path) -> bool:
    return endpoints.resolve() == POSTGRES_ENDPOINTS.resolve() or "TUTOR_DB_HOST" in endpoints.read_text()


def with_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with every unset scale-out setting filled in; a value set to "" is kept."""
    filled = dict(env)
    for name, value in SCALE_DEFAULTS.items():
        filled.setdefault(name, value)
    return filled


@dataclass(frozen=True)
class ScaleStores:
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    redis_host: str
    redis_port: int
    redis_db: int
    redis_password: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ScaleStores:
        env = with_defaults(env)
        numbers = {}
        for name in ("TUTOR_DB_PORT", "TUTOR_REDIS_PORT", "TUTOR_REDIS_DB"):
            try:
                numbers[name] = int(env[name])
            except ValueError:
                raise StoreUnavailable(f"{name}={env[name]!r} is not a number") from None
        return cls(
            env["TUTOR_DB_HOST"], numbers["TUTOR_DB_PORT"], env["TUTOR_DB_NAME"], env["TUTOR_DB_USER"],
            env["TUTOR_DB_PASSWORD"], env["TUTOR_REDIS_HOST"], numbers["TUTOR_REDIS_PORT"],
            numbers["TUTOR_REDIS_DB"], env["TUTOR_REDIS_PASSWORD"],
        )

    def check(self, timeout: float = 5.0) -> None:
        """Raise StoreUnavailable unless both stores answer; create the database if it is new."""
        self.check_postgres(timeout)
        self.check_redis(timeout)

    def check_postgres(self, timeout: float = 5.0) -> None:
        import psycopg2
        from psycopg2 import sql

        where = (
            f"PostgreSQL at TUTOR_DB_HOST={self.db_host} TUTOR_DB_PORT={self.db_port} "
            f"as TUTOR_DB_USER={self.db_user}"
        )
        params = {
            "host": self.db_host, "port": self.db_port, "user": self.db_user,
            "password": self.db_password or None, "connect_timeout": max(1, round(timeout)),
        }
        try:
            connection = psycopg2.connect(dbname=self.db_name, **params)
        except psycopg2.OperationalError as error:
            if f'"{self.db_name}" does not exist' not in str(error):
                raise StoreUnavailable(f"cannot reach {where}: {_first_line(error)}") from None
            try:
                connection = psycopg2.connect(dbname="postgres", **params)
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.db_name)))
            except psycopg2.Error as error:
                raise StoreUnavailable(
                    f"database TUTOR_DB_NAME={self.db_name} does not exist and cannot be created on {where}: "
                    f"{_first_line(error)}"
                ) from None
        connection.close()

    def check_redis(self, timeout: float = 5.0) -> None:
        import redis

        client = redis.Redis(
            host=self.redis_host, port=self.redis_port, db=self.redis_db,
            password=self.redis_password or None, socket_connect_timeout=timeout, socket_timeout=timeout,
        )
        try:
            client.ping()
        except redis.RedisError as error:
            raise StoreUnavailable(
                f"cannot reach Redis at TUTOR_REDIS_HOST={self.redis_host} TUTOR_REDIS_PORT={self.redis_port} "
                f"TUTOR_REDIS_DB={self.redis_db}: {_first_line(error)}"
            ) from None
        finally:
            client.close()


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def check_store_types(endpoints: Path) -> None:
    """Import every store class the endpoints file names by module path.

    Rasa replaces a tracker store class it cannot import by one in memory, with only a warning.
    """
    import yaml
    from rasa.shared.utils.common import class_from_module_path

    config = yaml.safe_load(endpoints.read_text(encoding="utf-8")) or {}
    for section in ("tracker_store", "lock_store"):
        kind = str((config.get(section) or {}).get("type") or "")
        if "." in kind:
            try:
                class_from_module_path(kind)
            except (ImportError, AttributeError) as error:
                raise StoreUnavailable(f"{endpoints.name}: {section} type {kind} cannot be loaded ({error})") from None


def check(env: Mapping[str, str] | None = None, timeout: float = 5.0) -> str:
    """Check the stores the chosen endpoints file needs; returns what was checked."""
    env = os.environ if env is None else env
    endpoints = endpoints_file(env)
    if not endpoints.is_file():
        raise StoreUnavailable(f"TUTOR_ENDPOINTS names {endpoints}, which does not exist")
    check_store_types(endpoints)
    if not uses_scale_stores(endpoints):
        return f"{endpoints.name}: SQLite tracker store, nothing to reach"
    stores = ScaleStores.from_env(env)
    stores.check(timeout)
    return (
        f"{endpoints.name}: PostgreSQL {stores.db_host}:{stores.db_port}/{stores.db_name} and "
        f"Redis {stores.redis_host}:{stores.redis_port}/{stores.redis_db} reachable"
    )


def database_url(env: Mapping[str, str] | None = None) -> str:
    """The SQLAlchemy URL of the conversations' database, as the chosen endpoints file configures it.

    The classroom's tables live there too, so the teacher's pages, the CLI and the tracker
    store always read one database.
    """
    import sqlalchemy as sa

    env = os.environ if env is None else env
    if uses_scale_stores(endpoints_file(env)):
        filled = with_defaults(env)
        return sa.engine.URL.create(
            "postgresql",
            username=filled["TUTOR_DB_USER"] or None,
            password=filled["TUTOR_DB_PASSWORD"] or None,
            host=filled["TUTOR_DB_HOST"],
            port=int(filled["TUTOR_DB_PORT"]),
            database=filled["TUTOR_DB_NAME"],
        ).render_as_string(hide_password=False)
    return f"sqlite:///{Path(env.get('TUTOR_TRACKER_DB') or BUILD_DIR / 'tracker.db').resolve()}"
