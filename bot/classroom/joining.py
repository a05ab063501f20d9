"""``join CODE`` in any channel: the student joins (or moves to) a class; the reply names it.

It is answered at the channel's edge, before NLU, so no model can misread a code. A wrong
code is answered after a pause, and after ``MAX_FAILURES`` wrong codes in ``FAILURE_WINDOW``
the student is asked to wait; a guessed code needs about 2**39 / 2 tries.
"""

from __future__ import annotations

import asyncio
import logging
import re

import sqlalchemy as sa

from bot.classroom import accounts, db
from bot.classroom.accounts import ClassroomError

logger = logging.getLogger(__name__)

JOIN = re.compile(r"^\s*/?join(?:\s+(?:the\s+)?class)?\s*:?\s+([A-Za-z0-9][A-Za-z0-9 -]{2,24}?)\s*[.!]?\s*$", re.IGNORECASE)
WRONG_CODE_DELAY = 1.0


def join_request(text: str) -> str | None:
    """The code, if the message asks to join a class."""
    match = JOIN.match(text or "")
    return match.group(1) if match else None


def _reply(name: str, **values: object) -> str:
    from bot.channels.edges import response

    return response(name, **values)


async def answer(sender_id: str, code: str) -> str:
    """Join, and the student's reply; never raises."""
    shown = accounts.normalise_code(code)
    try:
        engine = await asyncio.to_thread(db.conversations_engine)
        joined = await asyncio.to_thread(accounts.join, engine, sender_id, code)
    except ClassroomError as refusal:
        if str(refusal) == "blocked":
            return _reply("utter_class_slow_down", minutes=round(accounts.FAILURE_WINDOW / 60))
        await asyncio.sleep(WRONG_CODE_DELAY)
        return _reply("utter_class_code_unknown", code=shown)
    except (sa.exc.SQLAlchemyError, OSError):
        logger.exception("joining a class failed for %s", sender_id)
        return _reply("utter_class_unavailable")
    if joined.already:
        return _reply("utter_class_already", title=joined.classroom.title)
    if joined.left is not None:
        return _reply("utter_class_moved", title=joined.classroom.title, left=joined.left.title)
    return _reply("utter_class_joined", title=joined.classroom.title)
