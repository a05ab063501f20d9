"""Teachers, their classes and the students in them: tokens, join codes, joining, removal.

A teacher's token is ``tt_<id>_<secret>``: the id finds the teacher, and only an argon2 hash
of the secret is kept. A join code is 8 characters from an alphabet without look-alikes
(31 letters and digits: 39 bits), shown as ``ABCD-EFGH``. Failed sign-ins and wrong codes are
counted in the database (so several servers share the count), and past a limit refused for
a while.
"""

from __future__ import annotations

import re
import secrets as random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.classroom import db

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
TOKEN = re.compile(r"^tt_([0-9a-f]{16})_([A-Za-z0-9_-]{20,})$")
MAX_FAILURES = 5
FAILURE_WINDOW = 15 * 60.0

_hasher = PasswordHasher()


class ClassroomError(ValueError):
    """A request the classroom refuses; the message says why, for the person who typed it."""


@dataclass(frozen=True)
class Teacher:
    id: int
    name: str


@dataclass(frozen=True)
class Classroom:
    id: int
    teacher_id: int
    title: str
    join_code: str
    pseudonymise: bool
    students: int = 0

    @property
    def shown_code(self) -> str:
        return f"{self.join_code[:4]}-{self.join_code[4:]}"


@dataclass(frozen=True)
class Member:
    id: int
    sender_id: str
    class_id: int
    joined_at: float


@dataclass(frozen=True)
class Joined:
    """What joining did: the class, and the one the student left for it (if any)."""

    classroom: Classroom
    left: Classroom | None
    already: bool = False


def normalise_code(text: str) -> str:
    return re.sub(r"[\s-]", "", text).upper()


def new_code() -> str:
    return "".join(random.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _now() -> float:
    return time.time()


# --- teachers -------------------------------------------------------------------------------


def _issue_token() -> tuple[str, str, str]:
    token_id, secret = random.token_hex(8), random.token_urlsafe(24)
    return f"tt_{token_id}_{secret}", token_id, _hasher.hash(secret)


def add_teacher(engine: sa.engine.Engine, name: str) -> str:
    """A new teacher; returns their token (shown once: only its hash is kept)."""
    name = name.strip()
    if not name:
        raise ClassroomError("a teacher needs a name")
    token, token_id, digest = _issue_token()
    try:
        with engine.begin() as connection:
            connection.execute(
                db.teachers.insert().values(name=name, token_id=token_id, token_hash=digest, created_at=_now())
            )
    except sa.exc.IntegrityError:
        raise ClassroomError(f"there is already a teacher called {name!r} (use --reset for a new token)") from None
    return token


def reset_token(engine: sa.engine.Engine, name: str) -> str:
    """A new token for ``name``; the old one stops working."""
    token, token_id, digest = _issue_token()
    with engine.begin() as connection:
        done = connection.execute(
            db.teachers.update().where(db.teachers.c.name == name.strip()).values(token_id=token_id, token_hash=digest)
        )
    if not done.rowcount:
        raise ClassroomError(f"no teacher called {name!r}")
    return token


def teacher_named(engine: sa.engine.Engine, name: str) -> Teacher:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(db.teachers.c.id, db.teachers.c.name).where(db.teachers.c.name == name.strip())
        ).first()
    if row is None:
        raise ClassroomError(f"no teacher called {name!r}")
    return Teacher(row.id, row.name)


def verify_token(engine: sa.engine.Engine, token: str) -> Teacher | None:
    """The teacher whose token this is, or None."""
    match = TOKEN.match(token.strip())
    if not match:
        return None
    with engine.connect() as connection:
        row = connection.execute(sa.select(db.teachers).where(db.teachers.c.token_id == match.group(1))).first()
    if row is None:
        return None
    try:
        _hasher.verify(row.token_hash, match.group(2))
    except (VerificationError, InvalidHashError):
        return None
    return Teacher(row.id, row.name)


# --- classes --------------------------------------------------------------------------------


def classroom_of(row: sa.engine.Row, students: int = 0) -> Classroom:
    return Classroom(row.id, row.teacher_id, row.title, row.join_code, bool(row.pseudonymise), students)


def create_class(engine: sa.engine.Engine, teacher: str, title: str, pseudonymise: bool = False) -> Classroom:
    owner = teacher_named(engine, teacher)
    title = title.strip()
    if not title:
        raise ClassroomError("a class needs a title")
    for _ in range(10):
        code = new_code()
        try:
            with engine.begin() as connection:
                new_id = connection.execute(
                    db.classes.insert().values(
                        teacher_id=owner.id, title=title, join_code=code, pseudonymise=pseudonymise, created_at=_now()
                    )
                ).inserted_primary_key[0]
            return Classroom(new_id, owner.id, title, code, pseudonymise)
        except sa.exc.IntegrityError:
            continue  # the code was taken: draw another
    raise ClassroomError("could not draw an unused join code")


def classes_of(engine: sa.engine.Engine, teacher_id: int) -> list[Classroom]:
    count = sa.func.count(db.memberships.c.id)
    query = (
        sa.select(db.classes, count.label("students"))
        .select_from(db.classes.outerjoin(db.memberships, db.memberships.c.class_id == db.classes.c.id))
        .where(db.classes.c.teacher_id == teacher_id)
        .group_by(*db.classes.c)
        .order_by(db.classes.c.id)
    )
    with engine.connect() as connection:
        return [classroom_of(row, row.students) for row in connection.execute(query)]


def class_of_teacher(engine: sa.engine.Engine, teacher_id: int, class_id: int) -> Classroom | None:
    """The class, if it is this teacher's; None otherwise (another's class looks like no class)."""
    return next((c for c in classes_of(engine, teacher_id) if c.id == class_id), None)


def members(engine: sa.engine.Engine, class_id: int) -> list[Member]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(db.memberships).where(db.memberships.c.class_id == class_id).order_by(db.memberships.c.id)
        ).all()
    return [Member(r.id, r.sender_id, r.class_id, r.joined_at) for r in rows]


# --- throttling -----------------------------------------------------------------------------


def failures(engine: sa.engine.Engine, kind: str, key: str, window: float = FAILURE_WINDOW) -> int:
    since = _now() - window
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(db.throttle).where(
                db.throttle.c.kind == kind, db.throttle.c.key == key, db.throttle.c.at >= since
            )
        ).scalar_one()


def record_failure(engine: sa.engine.Engine, kind: str, key: str) -> None:
    with engine.begin() as connection:
        connection.execute(db.throttle.insert().values(kind=kind, key=key[:255], at=_now()))
        connection.execute(db.throttle.delete().where(db.throttle.c.at < _now() - 24 * 3600))


def blocked(engine: sa.engine.Engine, kind: str, key: str) -> bool:
    return failures(engine, kind, key) >= MAX_FAILURES


# --- students -------------------------------------------------------------------------------


def join(engine: sa.engine.Engine, sender_id: str, code: str) -> Joined:
    """Put the student in the class of ``code`` (moving them from any other); ClassroomError if unknown."""
    if blocked(engine, "join", sender_id):
        raise ClassroomError("blocked")
    wanted = normalise_code(code)
    with engine.connect() as connection:
        row = connection.execute(sa.select(db.classes).where(db.classes.c.join_code == wanted)).first()
    if row is None:
        record_failure(engine, "join", sender_id)
        raise ClassroomError("unknown")
    target = classroom_of(row)
    with engine.begin() as connection:
        current = connection.execute(
            sa.select(db.classes)
            .select_from(db.memberships.join(db.classes, db.classes.c.id == db.memberships.c.class_id))
            .where(db.memberships.c.sender_id == sender_id)
        ).first()
        if current is not None and current.id == target.id:
            return Joined(target, None, already=True)
        connection.execute(db.memberships.delete().where(db.memberships.c.sender_id == sender_id))
        connection.execute(db.memberships.insert().values(sender_id=sender_id, class_id=target.id, joined_at=_now()))
    return Joined(target, classroom_of(current) if current is not None else None)


def remove_student(engine: sa.engine.Engine, class_id: int, member_id: int) -> str | None:
    """Delete the student's membership and every stored event of their conversation; their sender id."""
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(db.memberships).where(db.memberships.c.id == member_id, db.memberships.c.class_id == class_id)
        ).first()
        if row is None:
            return None
        if sa.inspect(connection).has_table("events"):
            connection.execute(sa.text("DELETE FROM events WHERE sender_id = :sender"), {"sender": row.sender_id})
        connection.execute(db.memberships.delete().where(db.memberships.c.id == member_id))
    return row.sender_id


def secret(engine: sa.engine.Engine, name: str = "session") -> bytes:
    """A random secret kept in the database, so every server signs sessions alike (read once per process)."""
    key = (engine.url.render_as_string(hide_password=True), name)
    if key not in _secrets:
        _secrets[key] = _read_or_write_secret(engine, name)
    return _secrets[key]


_secrets: dict[tuple[str, str], bytes] = {}


def _read_or_write_secret(engine: sa.engine.Engine, name: str) -> bytes:
    with engine.connect() as connection:
        found = connection.execute(sa.select(db.secrets.c.value).where(db.secrets.c.name == name)).first()
    if found is None:
        try:
            with engine.begin() as connection:
                connection.execute(db.secrets.insert().values(name=name, value=random.token_hex(32)))
        except sa.exc.IntegrityError:
            pass  # another server wrote it first: theirs is read below
    with engine.connect() as connection:
        return bytes.fromhex(connection.execute(sa.select(db.secrets.c.value).where(db.secrets.c.name == name)).scalar_one())


def member_names(class_: Classroom, people: Sequence[Member], salt: str) -> dict[int, str]:
    """How each student is shown: their id, or a salted pseudonym when the class asks for it."""
    from bot.report.load import pseudonym

    return {m.id: pseudonym(m.sender_id, salt) if class_.pseudonymise else m.sender_id for m in people}
