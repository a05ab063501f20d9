"""The practice rounds in a tracker store: read-only, from any SQLAlchemy URL or engine."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bot.settings import report_salt
from bot.tutoring.results import RESULT_SLOT, PracticeResult

log = logging.getLogger(__name__)

DEFAULT_SALT = "debate-tutor/teacher-report/v1"
EVENTS = sa.table(
    "events",
    sa.column("id"),
    sa.column("sender_id"),
    sa.column("type_name"),
    sa.column("timestamp"),
    sa.column("action_name"),
    sa.column("data"),
)


class ReportError(RuntimeError):
    """The tracker store cannot be read; the message names the database."""


@dataclass(frozen=True)
class Attempt:
    """One student's practice round, when it ended."""

    student: str
    timestamp: float
    result: PracticeResult

    mode = property(lambda self: self.result.mode)
    claim = property(lambda self: self.result.claim)
    score = property(lambda self: self.result.score)
    total = property(lambda self: self.result.total)
    made = property(lambda self: self.result.made)
    missed = property(lambda self: self.result.missed)
    copied = property(lambda self: self.result.copied)
    off_topic = property(lambda self: self.result.off_topic)
    scored = property(lambda self: self.result.scored)
    share = property(lambda self: self.result.share)
    prosecuted = property(lambda self: self.result.prosecuted)

    @property
    def practised(self) -> tuple[str, ...]:
        return self.result.made if self.result.prosecuted else (self.result.claim,)

    @property
    def date(self) -> str:
        return datetime.fromtimestamp(self.timestamp, tz=UTC).isoformat(timespec="seconds")

    def renamed(self, student: str) -> Attempt:
        return replace(self, student=student)


def default_salt() -> str:
    """``TUTOR_REPORT_SALT``, else a fixed project string.

    A salt stops anyone from reversing a hashed id by hashing every likely sender id; the fixed
    default keeps pseudonyms stable from one report to the next so reports can be compared.
    A school that shares reports outside the staff room sets its own secret salt.
    """
    return report_salt() or DEFAULT_SALT


def pseudonym(student: str, salt: str) -> str:
    return "anon-" + hashlib.sha256(f"{salt}\x00{student}".encode()).hexdigest()[:12]


def shown_url(url: str) -> str:
    """The URL with its password masked, for messages and the report's header."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def read_only_engine(url: str) -> sa.engine.Engine:
    """An engine for ``url``; a SQLite file is opened read-only, so a wrong path never creates one."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as error:
        raise ReportError(f"{url!r} is not a database URL (e.g. sqlite:///build/tracker.db)") from error
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not parsed.database or not path.is_file():
            raise ReportError(
                f"no tracker store at {url}: the file {path} does not exist (practise with `make run` first, or pass --db)"
            )
        uri = f"{path.resolve().as_uri()}?mode=ro"
        return sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    connect_args = {"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {}
    try:
        return sa.create_engine(parsed, connect_args=connect_args)
    except (sa.exc.NoSuchModuleError, ImportError) as error:
        raise ReportError(f"cannot open {shown_url(url)}: no driver for it ({error})") from error


def _attempt(row_id: int, student: str, timestamp: float | None, data: str) -> Attempt | None:
    try:
        event = json.loads(data)
        if event.get("name") != RESULT_SLOT:
            return None
        when = float(timestamp if timestamp is not None else event["timestamp"])
        return Attempt(student, when, PracticeResult.from_slot(event.get("value")))
    except (KeyError, TypeError, ValueError) as error:
        log.warning("skipped malformed %s event %s of %r: %s", RESULT_SLOT, row_id, student, error)
        return None


def read_attempts(connection: sa.engine.Connection, students: Collection[str] | None = None) -> list[Attempt]:
    """The practice rounds over an open connection (of ``students`` only, if given), oldest first."""
    query = (
        sa.select(EVENTS.c.id, EVENTS.c.sender_id, EVENTS.c.timestamp, EVENTS.c.data)
        .where(EVENTS.c.type_name == "slot", EVENTS.c.action_name == RESULT_SLOT)
        .order_by(EVENTS.c.id)
    )
    if students is not None:
        if not students:
            return []
        query = query.where(EVENTS.c.sender_id.in_(list(students)))
    attempts = [a for a in (_attempt(*row) for row in connection.execute(query).all()) if a is not None]
    return sorted(attempts, key=lambda a: a.timestamp)


def load_attempts(url: str, students: Collection[str] | None = None) -> list[Attempt]:
    """Every practice round in the tracker store at ``url`` (any SQLAlchemy URL), oldest first. Only SELECTs."""
    engine = read_only_engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("events"):
                raise ReportError(f"{shown_url(url)} has no 'events' table: it is not a Rasa SQL tracker store, or it is empty")
            return read_attempts(connection, students)
    except sa.exc.SQLAlchemyError as error:
        reason = getattr(error, "orig", None) or error
        raise ReportError(f"cannot read the tracker store {shown_url(url)}: {str(reason).strip()}") from error
    finally:
        engine.dispose()
