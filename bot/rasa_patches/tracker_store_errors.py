"""A failing tracker store raises, instead of Rasa's silent switch to memory.

Rasa wraps the configured store in ``FailSafeTrackerStore``: when the database is away it
answers as if the conversation were new and keeps what follows in memory, so a student would
lose their place, and their next messages at the next restart. Raising lets every channel
(REST, socket.io, Slack: ``bot.channels.edges``) say so and ask for the message again; the
stored conversation is untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.rasa_patches import Patch

logger = logging.getLogger(__name__)


def _raise(_original: Callable[..., Any]) -> Callable[..., Any]:
    def on_error(self: Any, error: Exception) -> None:
        logger.error("tracker store %s failed: %s", type(self._tracker_store).__name__, error)
        raise error

    return on_error


PATCHES = [
    Patch(
        "tracker_store_save_errors",
        "rasa.core.tracker_store:FailSafeTrackerStore.on_tracker_store_error",
        "6faca7ba72b36da4",
        _raise,
    ),
    Patch(
        "tracker_store_retrieve_errors",
        "rasa.core.tracker_store:FailSafeTrackerStore.on_tracker_store_retrieve_error",
        "162b49564c52ab49",
        _raise,
    ),
]
