"""What every channel does before NLU and after the bot: limits, clean-up, never silence."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml
from rasa.core.channels.channel import OutputChannel, UserMessage

from bot.classroom.joining import answer as join_answer
from bot.classroom.joining import join_request
from bot.settings import ROOT

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Screened:
    """A student's message after screening: the text for NLU, or the reply that replaces it."""

    text: str
    reply: str | None = None


@lru_cache(maxsize=1)
def _responses() -> dict[str, str]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return {name: variants[0]["text"] for name, variants in domain["responses"].items()}


def response(name: str, **values: object) -> str:
    """A domain response's text, filled in; channels answer in the domain's words too."""
    text = _responses()[name]
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def screen(text: str) -> Screened:
    """Drop control characters; answer empty and over-long messages without NLU."""
    cleaned = unicodedata.normalize("NFC", _CONTROL.sub("", text)).strip()
    if not cleaned:
        return Screened("", response("utter_empty_message"))
    if len(cleaned) > MAX_MESSAGE_CHARS:
        return Screened("", response("utter_too_long", limit=MAX_MESSAGE_CHARS))
    return Screened(cleaned)


async def before_nlu(sender_id: str, text: str) -> Screened:
    """The screening, then ``join CODE`` answered here: the same in every channel."""
    screened = screen(text)
    if screened.reply is None:
        code = join_request(screened.text)
        if code is not None:
            return Screened("", await join_answer(sender_id, code))
    return screened


def unreachable() -> str:
    """The reply when the bot produced nothing, almost always because actions failed."""
    return response("utter_unreachable")


_STORE_MODULES = ("sqlalchemy", "psycopg2", "redis", "sqlite3", "rasa.core.lock_store")


def is_store_failure(error: BaseException) -> bool:
    """Whether ``error`` came from the tracker or lock store (a database or Redis being away)."""
    return any(
        (getattr(kind, "__module__", "") or "").startswith(_STORE_MODULES) for kind in type(error).__mro__
    ) or isinstance(error, ConnectionError | TimeoutError)


def failure_reply(error: BaseException) -> str:
    """What a student reads when their message could not be handled: the cause, and what to do."""
    return response("utter_store_unavailable") if is_store_failure(error) else unreachable()


class _CountingOutput(OutputChannel):
    """Passes every response on to the real channel, counting them."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner
        self.sent = 0

    def name(self) -> str:
        return self.inner.name()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.sent += 1
        await self.inner.send_response(recipient_id, message)


def guarded(on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Callable[[UserMessage], Awaitable[None]]:
    """Wrap a channel's message handler with the screening and the never-silent reply."""

    async def handle(message: UserMessage) -> None:
        screened = await before_nlu(message.sender_id, message.text or "")
        if screened.reply is not None:
            await message.output_channel.send_text_message(message.sender_id, screened.reply)
            return
        message.text = screened.text
        counting = _CountingOutput(message.output_channel)
        message.output_channel = counting
        try:
            await on_new_message(message)
        except Exception as error:
            logger.exception("message from %s not handled", message.sender_id)
            await counting.inner.send_text_message(message.sender_id, failure_reply(error))
            return
        if not counting.sent:
            await counting.inner.send_text_message(message.sender_id, unreachable())

    return handle
