"""A debug line that Rasa 3.6 builds before every rule prediction, built only when it is logged.

``RulePolicy._find_action_from_rules`` formats every dialogue state of the conversation into
one string (``Policy.format_tracker_states``) for a debug log line, whatever the log level: a
walk over the whole conversation, two or three times a turn. Late in ``make bench``'s 200-turn
conversation it was 8 of the Rasa server's 208 busy samples in turns 181-200 (py-spy), and none
in its first 20. The text is Rasa's own whenever Rasa logs at debug level (``--debug``), and
empty otherwise, when nothing reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.rasa_patches import Patch


def _when_logged(original: Callable[[list[dict]], str]) -> Callable[[list[dict]], str]:
    loggers = (logging.getLogger("rasa.core.policies.rule_policy"), logging.getLogger("rasa.core.policies.policy"))

    def format_tracker_states(states: list[dict]) -> str:
        if any(logger.isEnabledFor(logging.DEBUG) for logger in loggers):
            return original(states)
        return ""

    return format_tracker_states


PATCHES = [
    Patch(
        "debug_states_text", "rasa.core.policies.policy:Policy.format_tracker_states", "32b101cb34fd1c32", _when_logged,
        reads=(("rasa.core.policies.rule_policy:RulePolicy._find_action_from_rules", "be6da6ee0f5429bd"),),
    ),
]
