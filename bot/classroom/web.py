"""The teacher's pages at ``/teacher/`` on the assistant's own server, and the same data as JSON.

Signing in with the token sets a session cookie (HMAC-signed, HttpOnly, SameSite=Strict,
path ``/teacher``, eight hours); ``Authorization: Bearer TOKEN`` works on every GET for
scripts. A teacher sees only their own classes: another teacher's class id answers 404, as a
class that does not exist would. Removing a student needs the session and its CSRF token.
Pages are Jinja2 templates with autoescaping under a CSP that allows no script at all.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets as random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.classroom import accounts, db
from bot.classroom.accounts import Classroom, Member, Teacher
from bot.report.load import default_salt

logger = logging.getLogger(__name__)

COOKIE = "tutor_teacher"
SESSION_SECONDS = 8 * 3600
FAILED_SIGN_IN_DELAY = 1.0
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Session:
    teacher: Teacher
    csrf: str | None  # None when signed in by bearer token (no forms)


def _engine() -> sa.engine.Engine:
    return db.conversations_engine()


def _sign(key: bytes, payload: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    mac = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _unsign(key: bytes, value: str) -> dict[str, Any] | None:
    body, _, mac = value.rpartition(".")
    if not body or not hmac.compare_digest(mac, hmac.new(key, body.encode(), hashlib.sha256).hexdigest()):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) and payload.get("exp", 0) > time.time() else None


def _client(request: Request) -> str:
    return str(request.ip or "unknown")


def _page(template: str, status: int = 200, **context: Any) -> HTTPResponse:
    from bot.report.render import environment

    body = environment().get_template(f"teacher/{template}.html").render(**context)
    return response.html(body, status=status, headers=SECURITY_HEADERS)


def _json(body: Any, status: int = 200) -> HTTPResponse:
    return response.json(body, status=status, headers=SECURITY_HEADERS)


def _wants_json(request: Request) -> bool:
    return request.path.rstrip("/").split("/")[2:3] == ["api"] or request.path.endswith(".csv")


def _unauthorised(request: Request, message: str = "Sign in with your teacher token.") -> HTTPResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="teacher"'}
    if _wants_json(request):
        return response.json({"error": message}, status=401, headers={**SECURITY_HEADERS, **headers})
    page = _page("sign_in", status=401, error=None if message.startswith("Sign in") else message)
    page.headers.update(headers)
    return page


def _too_many(request: Request) -> HTTPResponse:
    message = f"Too many failed sign-ins from here: try again in {round(accounts.FAILURE_WINDOW / 60)} minutes."
    if _wants_json(request):
        return response.json({"error": message}, status=429, headers=SECURITY_HEADERS)
    return _page("sign_in", status=429, error=message)


async def _authenticate(request: Request) -> Session | HTTPResponse:
    engine = await asyncio.to_thread(_engine)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorised(request, "Use Authorization: Bearer TOKEN.")
        if await asyncio.to_thread(accounts.blocked, engine, "sign-in", _client(request)):
            return _too_many(request)
        teacher = await asyncio.to_thread(accounts.verify_token, engine, token)
        if teacher is None:
            await asyncio.to_thread(accounts.record_failure, engine, "sign-in", _client(request))
            await asyncio.sleep(FAILED_SIGN_IN_DELAY)
            return _unauthorised(request, "That token is not valid.")
        return Session(teacher, None)
    cookie = request.cookies.get(COOKIE)
    if cookie:
        payload = _unsign(await asyncio.to_thread(accounts.secret, engine), cookie)
        if payload is not None:
            teacher = await asyncio.to_thread(_teacher_by_id, engine, int(payload["t"]))
            if teacher is not None:
                return Session(teacher, str(payload["c"]))
    return _unauthorised(request)


def _teacher_by_id(engine: sa.engine.Engine, teacher_id: int) -> Teacher | None:
    with engine.connect() as connection:
        row = connection.execute(sa.select(db.teachers.c.id, db.teachers.c.name).where(db.teachers.c.id == teacher_id)).first()
    return Teacher(row.id, row.name) if row else None


def _class_data(engine: sa.engine.Engine, classroom: Classroom) -> tuple[list[Member], dict[int, str], list]:
    """The class's students, how each is shown, and their rounds since joining (under that name)."""
    from bot.classroom.reports import rounds_since_joining

    people, found = rounds_since_joining(engine, classroom.id)
    names = accounts.member_names(classroom, people, default_salt())
    shown = {m.sender_id: names[m.id] for m in people}
    return people, names, [a.renamed(shown[a.student]) for a in found]


def _knowledge():
    from bot.essay.knowledge import load_knowledge

    return load_knowledge()


class TeacherPages(InputChannel):
    """Listed in credentials.yml; served at /teacher/ rather than under /webhooks/."""

    @classmethod
    def name(cls) -> str:
        return "teacher"

    def url_prefix(self) -> str:
        return "/teacher"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        pages = Blueprint("tutor_teacher", __name__)

        def signed_in(handler: Callable[..., Awaitable[HTTPResponse]]) -> Callable[..., Awaitable[HTTPResponse]]:
            async def wrapped(request: Request, **kwargs: Any) -> HTTPResponse:
                try:
                    session = await _authenticate(request)
                    if isinstance(session, HTTPResponse):
                        return session
                    return await handler(request, session, **kwargs)
                except (sa.exc.SQLAlchemyError, OSError):
                    logger.exception("teacher page %s failed", request.path)
                    return response.text("The class database cannot be reached; try again in a moment.\n", status=503,
                                         headers=SECURITY_HEADERS)

            wrapped.__name__ = handler.__name__
            return wrapped

        async def owned(session: Session, class_id: int) -> tuple[sa.engine.Engine, Classroom | None]:
            engine = await asyncio.to_thread(_engine)
            return engine, await asyncio.to_thread(accounts.class_of_teacher, engine, session.teacher.id, class_id)

        def not_found(request: Request) -> HTTPResponse:
            if _wants_json(request):
                return _json({"error": "no such class"}, status=404)
            return _page("message", status=404, title="Not found", message="There is no such class among yours.")

        async def classes_page(request: Request, session: Session) -> HTTPResponse:
            engine = await asyncio.to_thread(_engine)
            rooms = await asyncio.to_thread(accounts.classes_of, engine, session.teacher.id)
            return _page("classes", teacher=session.teacher, classes=rooms, csrf=session.csrf)

        guarded_classes = signed_in(classes_page)

        @pages.route("/", methods=["GET"])
        async def home(request: Request) -> HTTPResponse:
            if not request.headers.get("authorization") and not request.cookies.get(COOKIE):
                return _page("sign_in", error=None)
            return await guarded_classes(request)

        @pages.route("/sign-in", methods=["POST"])
        async def sign_in(request: Request) -> HTTPResponse:
            engine = await asyncio.to_thread(_engine)
            if await asyncio.to_thread(accounts.blocked, engine, "sign-in", _client(request)):
                return _too_many(request)
            token = (request.form.get("token") or "").strip()
            teacher = await asyncio.to_thread(accounts.verify_token, engine, token) if token else None
            if teacher is None:
                await asyncio.to_thread(accounts.record_failure, engine, "sign-in", _client(request))
                await asyncio.sleep(FAILED_SIGN_IN_DELAY)
                return _page("sign_in", status=401, error="That token is not valid.")
            key = await asyncio.to_thread(accounts.secret, engine)
            value = _sign(key, {"t": teacher.id, "c": random.token_urlsafe(24), "exp": time.time() + SESSION_SECONDS})
            done = response.redirect("/teacher/", status=303, headers=SECURITY_HEADERS)
            done.cookies[COOKIE] = value
            cookie = done.cookies[COOKIE]
            cookie["httponly"] = True
            cookie["samesite"] = "Strict"
            cookie["path"] = "/teacher"
            cookie["max-age"] = SESSION_SECONDS
            if request.scheme == "https":
                cookie["secure"] = True
            return done

        @pages.route("/sign-out", methods=["POST"])
        @signed_in
        async def sign_out(request: Request, session: Session) -> HTTPResponse:
            if not _csrf_ok(request, session):
                return _page("message", status=403, title="Refused", message="That form has expired: reload the page.")
            done = response.redirect("/teacher/", status=303, headers=SECURITY_HEADERS)
            done.cookies[COOKIE] = ""
            done.cookies[COOKIE]["max-age"] = 0
            done.cookies[COOKIE]["path"] = "/teacher"
            return done

        @pages.route("/classes/<class_id:int>", methods=["GET"])
        @signed_in
        async def class_page(request: Request, session: Session, class_id: int) -> HTTPResponse:
            from bot.report.render import class_view, meta_line

            engine, classroom = await owned(session, class_id)
            if classroom is None:
                return not_found(request)
            people, names, attempts = await asyncio.to_thread(_class_data, engine, classroom)
            view = await asyncio.to_thread(class_view, attempts, _knowledge())
            ids = {names[m.id]: m.id for m in people}
            return _page(
                "class", teacher=session.teacher, classroom=classroom, view=view, people=people, names=names, ids=ids,
                meta=meta_line(attempts, len(people), classroom.pseudonymise), csrf=session.csrf,
            )

        @pages.route("/classes/<class_id:int>/students/<member_id:int>", methods=["GET"])
        @signed_in
        async def student_page(request: Request, session: Session, class_id: int, member_id: int) -> HTTPResponse:
            from bot.report.render import class_view

            engine, classroom = await owned(session, class_id)
            if classroom is None:
                return not_found(request)
            _, names, attempts = await asyncio.to_thread(_class_data, engine, classroom)
            if member_id not in names:
                return _page("message", status=404, title="Not found", message="No such student in this class.")
            mine = [a for a in attempts if a.student == names[member_id]]
            view = await asyncio.to_thread(class_view, mine, _knowledge())
            summary = view.summaries[0] if view.summaries else None
            return _page("student", teacher=session.teacher, classroom=classroom, name=names[member_id],
                         member_id=member_id, summary=summary, labels=view.labels, csrf=session.csrf)

        @pages.route("/classes/<class_id:int>/students/<member_id:int>/remove", methods=["GET", "POST"])
        @signed_in
        async def remove(request: Request, session: Session, class_id: int, member_id: int) -> HTTPResponse:
            engine, classroom = await owned(session, class_id)
            if classroom is None:
                return not_found(request)
            people = await asyncio.to_thread(accounts.members, engine, class_id)
            names = accounts.member_names(classroom, people, default_salt())
            if member_id not in names:
                return _page("message", status=404, title="Not found", message="No such student in this class.")
            if request.method == "GET":
                if session.csrf is None:
                    return _page("message", status=403, title="Refused", message="Sign in on this page to remove a student.")
                return _page("remove", teacher=session.teacher, classroom=classroom, name=names[member_id],
                             member_id=member_id, csrf=session.csrf)
            if not _csrf_ok(request, session) or request.form.get("confirm") != "yes":
                return _page("message", status=403, title="Refused", message="That form has expired: reload the page.")
            await asyncio.to_thread(accounts.remove_student, engine, class_id, member_id)
            return response.redirect(f"/teacher/classes/{class_id}", status=303, headers=SECURITY_HEADERS)

        async def csv_download(request: Request, session: Session, class_id: int) -> HTTPResponse:
            from bot.report.render import csv_text
            from bot.report.statistics import Labels

            engine, classroom = await owned(session, class_id)
            if classroom is None:
                return not_found(request)
            _, _, attempts = await asyncio.to_thread(_class_data, engine, classroom)
            body = csv_text(attempts, Labels(_knowledge()))
            headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="class-{class_id}-report.csv"'}
            return response.text(body, content_type="text/csv; charset=utf-8", headers=headers)

        pages.add_route(signed_in(csv_download), "/classes/<class_id:int>/report.csv", methods=["GET"], name="csv")
        pages.add_route(signed_in(csv_download), "/api/classes/<class_id:int>/report.csv", methods=["GET"], name="api_csv")

        @pages.route("/api/classes", methods=["GET"])
        @signed_in
        async def api_classes(request: Request, session: Session) -> HTTPResponse:
            engine = await asyncio.to_thread(_engine)
            rooms = await asyncio.to_thread(accounts.classes_of, engine, session.teacher.id)
            return _json([
                {"id": c.id, "title": c.title, "join_code": c.shown_code, "students": c.students} for c in rooms
            ])

        return pages


def _csrf_ok(request: Request, session: Session) -> bool:
    sent = request.form.get("csrf") or ""
    return session.csrf is not None and hmac.compare_digest(sent, session.csrf)
