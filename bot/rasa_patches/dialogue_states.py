"""The policies' dialogue states, carried forward from turn to turn instead of rebuilt.

Before every prediction each policy asks Rasa 3.6 for the dialogue state at every step of the
conversation (``Domain.states_for_tracker_history``). Rasa replays the whole conversation into
a fresh tracker to answer, about five times per message, so a reply's cost grows with the
length of the conversation: 13 ms of a 47 ms reply at turn 200, for one student alone.

The computation is a fold over the conversation's applied events. Here, per conversation, the
fold's position is kept: the replayed tracker, the states so far and the two values Rasa
carries from step to step. When the next call's applied events begin with the events already
folded (the same event objects, which is what a growing conversation on one server gives; or,
for events read back from a store, the same classes and timestamps, in order) the fold goes on
from there; anything else (another conversation, an undone turn, a restart, history replaced
through the API) starts it again from nothing, exactly as Rasa would. Each caller gets its own
copies of the states, since Rasa's featurizers edit the last one in place.

A loop (a practice round) rewrites the end of the applied events at each of its turns: Rasa
drops the listen and the student's message since the loop's previous step. So the fold also
keeps where it stood before each of the last few listens (``_Mark``), and goes on from the
latest one the new events still agree with, rather than from nothing: before this, every turn
of a practice round folded the whole conversation again (10-20 ms at 1,800 events).

The first check is by identity, in C (``map(operator.is_, ...)``), because building the
classes-and-timestamps of every event for each new length was itself a walk over the whole
conversation: 17 of the Rasa server's 208 busy samples in turns 181-200 of ``make bench``'s
long conversation (py-spy), against none in its first 20 turns.

``tests/test_dialogue_states.py`` checks the result against Rasa's own function on every
prefix of every training conversation, with every combination of options.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import operator
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.rasa_patches import Patch

#: Conversations (times option sets) whose fold is kept; the least recently used goes first.
MAX_FOLDS = 512
#: Marks kept per fold, and how near the end of the applied events a listen must be to get one.
MARKS = 4
MARK_WITHIN = 64

_lock = threading.Lock()
#: Set by ``policy_tails``: how many of the last states the caller reads, and whether it drops
#: the ``action_unlikely_intent`` ones first (then that many besides those).
_tail: contextvars.ContextVar[tuple[int, bool] | None] = contextvars.ContextVar("tutor_states_tail", default=None)
_folds: OrderedDict[tuple, _Fold] = OrderedDict()
_MEMO = "_tutor_applied_events"
_DOMAIN_KEY = "_tutor_fold_key"


@dataclass
class _Mark:
    """Where a fold stood before its ``length``-th applied event (a listen)."""

    length: int
    replay: Any
    states: int
    last_ml_action: Any
    hidden: bool


@dataclass
class _Fold:
    replay: Any
    applied: list = field(default_factory=list)  # the events folded so far
    prints: list[tuple] = field(default_factory=list)  # their classes and timestamps
    states: list[dict] = field(default_factory=list)
    last_ml_action: Any = None
    hidden: bool = False
    marks: list[_Mark] = field(default_factory=list)

    def mark(self, length: int) -> None:
        self.marks.append(_Mark(length, self.replay.copy(), len(self.states), self.last_ml_action, self.hidden))
        del self.marks[:-MARKS]

    def rewind(self, applied: list) -> bool:
        """Go back to the latest mark whose events ``applied`` begins with; False if there is none."""
        for index in range(len(self.marks) - 1, -1, -1):
            mark = self.marks[index]
            if mark.length <= len(applied) and all(map(operator.is_, applied[: mark.length], self.applied[: mark.length])):
                self.replay, self.last_ml_action, self.hidden = mark.replay, mark.last_ml_action, mark.hidden
                del self.states[mark.states:], self.prints[mark.length:], self.marks[index:]
                self.applied = self.applied[: mark.length]
                return True
        return False


def _step(domain: Any, fold: _Fold, tracker: Any, hide_rule_turn: bool, options: tuple) -> tuple[Any, Any, bool]:
    """One step of Rasa's loop: the state before an action (None if hidden), and the carried values."""
    from rasa.shared.core.constants import PREVIOUS_ACTION

    omit_unset_slots, ignore_rule_only_turns, rule_only_data = options
    last_ml_action, hidden = fold.last_ml_action, fold.hidden
    if ignore_rule_only_turns:
        if not hidden:
            last_ml_action = domain._get_prev_action_sub_state(tracker)
        if not tracker.followup_action and tracker.latest_action_name != tracker.active_loop_name:
            hidden = hide_rule_turn
        if hidden:
            return None, last_ml_action, hidden
    state = domain.get_active_state(tracker, omit_unset_slots=omit_unset_slots)
    if ignore_rule_only_turns:
        domain._remove_rule_only_features(state, rule_only_data)
        if fold.states:
            domain._substitute_rule_only_user_input(state, fold.states[-1])
        if last_ml_action:
            state[PREVIOUS_ACTION] = last_ml_action
    return domain._clean_state(state), last_ml_action, hidden


def _applied_events(tracker: Any) -> list:
    """Rasa's ``applied_events``, worked out once per tracker and length.

    The policies ask about the same tracker several times before it grows; working out which
    events apply (undone turns, loops) walks the whole conversation each time.
    """
    events = tracker.events
    mark = (id(events), len(events), id(events[-1]) if events else None)
    memo = getattr(tracker, _MEMO, None)
    if memo is None or memo[0] != mark:
        memo = (mark, tracker.applied_events())
        setattr(tracker, _MEMO, memo)  # goes when the tracker goes
    return memo[1]


def _print(event: Any) -> tuple:
    return type(event), event.timestamp


def _continues(fold: _Fold, applied: list) -> bool:
    """Whether ``applied`` begins with the events ``fold`` has folded."""
    done = len(fold.applied)
    if done > len(applied):
        return False
    head = applied[:done]
    if all(map(operator.is_, head, fold.applied)):
        return True
    return [_print(event) for event in head] == fold.prints


def _domain_key(domain: Any) -> str:
    """A key of its own for each domain object, never reused by a domain loaded later (unlike ``id``)."""
    key = domain.__dict__.get(_DOMAIN_KEY)
    if key is None:
        key = uuid.uuid4().hex
        setattr(domain, _DOMAIN_KEY, key)
    return key


@contextlib.contextmanager
def tail(states: int, skip_unlikely_intent: bool = False) -> Iterator[None]:
    """Within this block, hand out only the last ``states`` states: the caller reads no others."""
    token = _tail.set((states, skip_unlikely_intent))
    try:
        yield
    finally:
        _tail.reset(token)


def _tail_start(states: list[dict], final: dict | None) -> int:
    """Where the states handed out begin: 0 unless a ``tail`` is asked for."""
    wanted = _tail.get()
    total = len(states) + (final is not None)
    if wanted is None or wanted[0] >= total:
        return 0
    count, skip = wanted
    if not skip:
        return total - count
    from rasa.core.featurizers.tracker_featurizers import _is_prev_action_unlikely_intent_in_state

    kept = int(final is not None and not _is_prev_action_unlikely_intent_in_state(final))
    index = len(states)
    while index > 0 and kept < count:
        index -= 1
        kept += not _is_prev_action_unlikely_intent_in_state(states[index])
    return index


def _copy(state: dict) -> dict:
    return {name: dict(sub) if isinstance(sub, dict) else sub for name, sub in state.items()}


def states_for_tracker_history(
    domain: Any,
    tracker: Any,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: dict[str, Any] | None = None,
) -> list[dict]:
    """What ``Domain.states_for_tracker_history`` returns, from the kept fold where it applies."""
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted

    applied = _applied_events(tracker)
    options = (omit_unset_slots, ignore_rule_only_turns, rule_only_data if ignore_rule_only_turns else None)
    key = (
        _domain_key(domain), tracker.sender_id, tracker.is_rule_tracker, tracker._max_event_history,
        omit_unset_slots, ignore_rule_only_turns, json.dumps(options[2], sort_keys=True, default=str),
    )
    with _lock:
        fold = _folds.pop(key, None)
    if fold is None or not (_continues(fold, applied) or fold.rewind(applied)):
        fold = _Fold(replay=tracker.init_copy())
    done = len(fold.applied)
    for position in range(done, len(applied)):
        event = applied[position]
        if isinstance(event, ActionExecuted):
            if event.action_name == ACTION_LISTEN_NAME and position >= len(applied) - MARK_WITHIN:
                fold.mark(position)
            state, fold.last_ml_action, fold.hidden = _step(domain, fold, fold.replay, event.hide_rule_turn, options)
            if state is not None:
                fold.states.append(state)
        fold.replay.update(event)
        fold.prints.append(_print(event))
    fold.applied = applied  # these objects, so that the next turn's check is by identity
    final, _, _ = _step(domain, fold, fold.replay, False, options)  # not carried: the next event decides
    result = [_copy(state) for state in fold.states[_tail_start(fold.states, final):]]
    if final is not None:
        result.append(_copy(final))  # its parts belong to the kept replay tracker
    with _lock:
        _folds[key] = fold
        while len(_folds) > MAX_FOLDS:
            _folds.popitem(last=False)
    return result


def _replace(_original: Callable[..., list]) -> Callable[..., list]:
    return states_for_tracker_history


def forget() -> None:
    """Drop every kept fold (a test's fresh start)."""
    with _lock:
        _folds.clear()


PATCHES = [Patch("dialogue_states", "rasa.shared.core.domain:Domain.states_for_tracker_history", "035111ce73ac90ba", _replace)]
