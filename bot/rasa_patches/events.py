"""Stored events turned back into their classes without scanning every subclass each time.

Rasa 3.6 resolves an event name by walking every subclass of ``Event``: about 1 ms per ten
events, every turn, for the whole conversation. The classes do not change while the server
runs, so the name-to-class answer is kept; an unknown name still goes to Rasa's function
(the same default, or the same error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.rasa_patches import Patch


def _kept(original: Callable[..., Any]) -> Callable[..., Any]:
    from rasa.shared.core import events
    from rasa.shared.utils.common import all_subclasses

    found: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: type | None = None) -> type | None:
        cls = found.get(type_name)
        if cls is None:
            for candidate in all_subclasses(events.Event):
                if candidate.type_name == type_name:
                    cls = found[type_name] = candidate
                    break
        return cls if cls is not None else original(type_name, default)

    return resolve_by_type


PATCHES = [Patch("event_classes", "rasa.shared.core.events:Event.resolve_by_type", "b5cf570fa7f286c7", _kept)]
