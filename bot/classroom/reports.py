"""One class's practice rounds for the report command: its students', since each joined."""

from __future__ import annotations

import sqlalchemy as sa

from bot.classroom import accounts, db
from bot.classroom.accounts import Classroom, Member
from bot.report.load import Attempt, ReportError, read_attempts, shown_url


def rounds_since_joining(engine: sa.engine.Engine, class_id: int) -> tuple[list[Member], list[Attempt]]:
    """The class's students, and their practice rounds since each joined it (a move does not bring old work)."""
    people = accounts.members(engine, class_id)
    since = {m.sender_id: m.joined_at for m in people}
    with engine.connect() as connection:
        found = read_attempts(connection, list(since)) if sa.inspect(connection).has_table("events") else []
    return people, [a for a in found if a.timestamp >= since[a.student]]


def class_attempts(url: str, class_id: int) -> tuple[Classroom, list[Attempt]]:
    try:
        engine = db.engine_for(url)
        with engine.connect() as connection:
            row = connection.execute(sa.select(db.classes).where(db.classes.c.id == class_id)).first()
        if row is None:
            raise ReportError(f"no class {class_id} in {shown_url(url)} (`python -m bot classes list --teacher NAME`)")
        _, attempts = rounds_since_joining(engine, class_id)
    except sa.exc.SQLAlchemyError as error:
        raise ReportError(f"cannot read {shown_url(url)}: {getattr(error, 'orig', None) or error}") from error
    return accounts.classroom_of(row), attempts
