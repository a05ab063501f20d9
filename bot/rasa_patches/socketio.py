"""Rasa 3.6's socket.io channel made to work on this stack (python-socketio 5.18, Python 3.11).

Two faults leave the web widget waiting for a reply that never comes. python-socketio 5.18
made ``AsyncServer.enter_room`` a coroutine, which Rasa 3.6 calls without ``await``, so with
``session_persistence`` a browser never joins its session's room and every reply is sent to
nobody. And Sanic 21.12's websockets fail on Python 3.11 (``asyncio.wait`` on bare
coroutines), so a client that upgrades from long-polling drops. The channel's blueprint is
Rasa's own; the server it builds has the room join scheduled as a task (still awaitable,
should Rasa ever await it), and keeps clients on long-polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bot.rasa_patches import Patch


def _scheduled(enter_room: Callable[..., Awaitable[Any]]) -> Callable[..., asyncio.Future]:
    """The coroutine method as one that starts at once, whether or not the caller awaits it."""

    def enter_now(*args: Any, **kwargs: Any) -> asyncio.Future:
        return asyncio.ensure_future(enter_room(*args, **kwargs))

    return enter_now


def repair(sio: Any) -> None:
    """The two repairs, on one socket.io server (idempotent)."""
    if asyncio.iscoroutinefunction(sio.enter_room):
        sio.enter_room = _scheduled(sio.enter_room)
    sio.eio.allow_upgrades = False
    sio.eio.transports = ["polling"]


def _repaired(original: Callable[..., Any]) -> Callable[..., Any]:
    def blueprint(self: Any, on_new_message: Callable[..., Awaitable[Any]]) -> Any:
        result = original(self, on_new_message)
        repair(self.sio)
        return result

    return blueprint


PATCHES = [
    Patch(
        "socketio_rooms_and_polling",
        "rasa.core.channels.socketio:SocketIOInput.blueprint",
        "1246d69fa05c3b1f",
        _repaired,
    ),
]
