"""Rasa's socket.io channel (the web widget's) with the same safe edges as REST."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

from bot.channels.edges import guarded


class TutorSocketIOInput(SocketIOInput):
    """Same name, path and settings as the stock channel; messages are screened first."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return super().blueprint(guarded(on_new_message))
