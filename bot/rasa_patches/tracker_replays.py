"""Two walks over the whole conversation that Rasa 3.6 repeats several times a turn, made once.

Late in a 200-turn conversation (py-spy in the Rasa server under ``make bench``):

- ``DialogueStateTracker.applied_events`` walks every event to drop undone turns and loop
  steps; it is asked before every prediction and again at each turn's session check (8% of
  the server's time). A conversation only grows, so the answer is kept on the tracker and
  extended by the events added since, as long as none of them is one that changes the answer
  for earlier events (a restart, a new session, an undo, a loop starting, a loop's action);
  then, or when the events were replaced, Rasa's own walk runs again.
- ``DialogueStateTracker.copy``, which the processor calls before every action, builds the copy
  by replaying every event into a fresh tracker (5%). The replay's result is the tracker's
  current state, so the copy takes that state directly: the same events, copies of the slots
  and the active loop, the same latest messages. Rasa's replay runs wherever that could
  differ: a capped event history (the replay would see fewer events), a subclass, or a
  tracker without a domain's slots.

``tests/test_tracker_replays.py`` checks both against Rasa's functions on every prefix of
every training conversation, and on conversations with restarts, undos and loops.
"""

from __future__ import annotations

import copy as copying
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.rasa_patches import Patch, PatchRefused

TRACKERS = "rasa.shared.core.trackers:DialogueStateTracker"
_MEMO = "_tutor_applied"
#: What a tracker's state is made of, besides its events: the copy carries each of these.
STATE = ("_paused", "followup_action", "latest_action", "latest_message", "latest_bot_utterance", "active_loop")


@dataclass
class _Applied:
    events: Any  # the deque they were worked out from
    length: int
    first: Any
    last: Any
    applied: list
    loop_names: frozenset


def _breaks_extension(event: Any, loop_names: frozenset) -> bool:
    from rasa.shared.core.events import (
        ActionExecuted,
        ActionReverted,
        ActiveLoop,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
    )

    if isinstance(event, Restarted | SessionStarted | ActionReverted | UserUtteranceReverted):
        return True
    if isinstance(event, ActiveLoop) and event.name:
        return True
    return isinstance(event, ActionExecuted) and event.action_name in loop_names


def _applied_events(original: Callable[..., list]) -> Callable[..., list]:
    from rasa.shared.core.events import ActiveLoop

    def applied_events(self: Any) -> list:
        events = self.events
        length = len(events)
        memo = self.__dict__.get(_MEMO)
        if (
            memo is not None
            and memo.events is events
            and 0 < memo.length <= length
            and events[0] is memo.first
            and events[memo.length - 1] is memo.last
        ):
            added = list(itertools.islice(reversed(events), length - memo.length))[::-1]
            if not any(_breaks_extension(event, memo.loop_names) for event in added):
                memo.applied.extend(added)
                memo.length, memo.last = length, events[-1]
                return list(memo.applied)
        applied = original(self)
        if length:
            names = frozenset(e.name for e in events if isinstance(e, ActiveLoop) and e.name)
            self.__dict__[_MEMO] = _Applied(events, length, events[0], events[-1], list(applied), names)
        return applied

    return applied_events


def _copy(original: Callable[..., Any]) -> Callable[..., Any]:
    from rasa.shared.core.trackers import DialogueStateTracker

    made = DialogueStateTracker("check", [])
    expected = {"_max_event_history", "events", "sender_id", "slots", "sender_source", "is_rule_tracker",
                "model_id", "assistant_id", *STATE}
    if set(vars(made)) != expected:
        raise PatchRefused(
            "Rasa patch 'tracker_copy' refused: a DialogueStateTracker holds "
            f"{sorted(set(vars(made)) ^ expected)} beyond what the copy was written for"
        )

    def copy(self: Any) -> Any:
        if type(self) is not DialogueStateTracker or self._max_event_history is not None or type(self.slots) is not dict:
            return original(self)
        tracker = self.init_copy()
        tracker.events = tracker._create_events(list(self.events))
        tracker.slots = {name: copying.copy(slot) for name, slot in self.slots.items()}
        for name in STATE:
            setattr(tracker, name, getattr(self, name))
        if tracker.latest_action is not None:
            tracker.latest_action = dict(tracker.latest_action)
        if tracker.active_loop is not None:
            tracker.active_loop = copying.copy(tracker.active_loop)
        return tracker

    return copy


_WALKS = (
    ("_undo_till_previous", "3a3710e5e73cb945"),
    ("_first_loop_execution_or_unhappy_path", "b67fe33e30d9b68c"),
    ("_undo_till_previous_loop_execution", "7ecfe12cccb39814"),
)
_BUILDS = (
    ("__init__", "8f39eb22462aa62b"),
    ("_reset", "190858eaf560a0c0"),
    ("init_copy", "429fcd2243b9e0e1"),
    ("travel_back_in_time", "09d16f28f007492f"),
    ("update", "b55e6b1c724fa6e9"),
)

PATCHES = [
    Patch("applied_events", f"{TRACKERS}.applied_events", "764d5065ea9997d6", _applied_events,
          reads=tuple((f"{TRACKERS}.{name}", sha) for name, sha in _WALKS)),
    Patch("tracker_copy", f"{TRACKERS}.copy", "dfa48dca9f355ad1", _copy,
          reads=tuple((f"{TRACKERS}.{name}", sha) for name, sha in _BUILDS)),
]
