"""Two walks over the whole conversation that Rasa 3.6 repeats several times a turn, made once.

Late in a 200-turn conversation (py-spy in the Rasa server under ``make bench``):

- ``DialogueStateTracker.applied_events`` walks every event to drop undone turns and loop
  steps; it is asked before every prediction and again at each turn's session check (8% of
  the server's time). The walk is a left fold over the events, given the names of the loops
  they mention, so its state (the applied list so far) is kept on the tracker and the fold goes
  on over the events added since, through Rasa's own steps for restarts, new sessions, undos
  and loop actions. Rasa's whole walk runs again when the events were replaced, or when an
  added event names a loop the earlier ones did not (which would change how they were walked).
  The first version of this kept only growth without those events and walked the whole
  conversation again for every turn of a practice round (a loop): 4 ms a walk at 1,800 events,
  several walks a turn.
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


def _fold(tracker: Any, event: Any, applied: list, loop_names: frozenset) -> list:
    """One step of Rasa 3.6's ``applied_events`` walk; returns the applied list (a new one on a restart)."""
    from rasa.shared.core.events import (
        ActionExecuted,
        ActionReverted,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
        UserUttered,
    )

    if isinstance(event, Restarted | SessionStarted):
        return []
    if isinstance(event, ActionReverted):
        tracker._undo_till_previous(ActionExecuted, applied)
    elif isinstance(event, UserUtteranceReverted):
        tracker._undo_till_previous(UserUttered, applied)
        tracker._undo_till_previous(ActionExecuted, applied)
    elif (
        isinstance(event, ActionExecuted)
        and event.action_name in loop_names
        and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)
    ):
        tracker._undo_till_previous_loop_execution(event.action_name, applied)
    else:
        applied.append(event)
    return applied


def _loop_names(events: Any) -> frozenset:
    from rasa.shared.core.events import ActiveLoop

    return frozenset(event.name for event in events if isinstance(event, ActiveLoop) and event.name)


def _applied_events(original: Callable[..., list]) -> Callable[..., list]:
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
            if _loop_names(added) <= memo.loop_names:
                for event in added:
                    memo.applied = _fold(self, event, memo.applied, memo.loop_names)
                memo.length, memo.last = length, events[-1]
                return list(memo.applied)
        applied = original(self)
        if length:
            self.__dict__[_MEMO] = _Applied(events, length, events[0], events[-1], list(applied), _loop_names(events))
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
