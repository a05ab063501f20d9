"""The kept applied events and the direct copy give exactly what Rasa's own walks give."""

from __future__ import annotations

import dataclasses

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot import rasa_patches
from bot.rasa_patches import PatchRefused, tracker_replays
from bot.settings import ROOT


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture()
def rasas():
    """Rasa's own two functions, kept aside while the patches are installed."""
    rasa_patches.uninstall(["applied_events", "tracker_copy"])
    original = {"applied": DialogueStateTracker.applied_events, "copy": DialogueStateTracker.copy}
    rasa_patches.install(["applied_events", "tracker_copy"])
    yield original
    rasa_patches.uninstall(["applied_events", "tracker_copy"])


def _same_copy(ours: DialogueStateTracker, theirs: DialogueStateTracker, source: DialogueStateTracker) -> None:
    assert type(ours) is type(theirs)
    assert list(ours.events) == list(theirs.events) and ours.events is not source.events
    assert all(a is b for a, b in zip(ours.events, theirs.events, strict=True))  # the same event objects, as Rasa's replay
    assert set(vars(ours)) - {tracker_replays._MEMO} == set(vars(theirs)) - {tracker_replays._MEMO}
    for name in ("sender_id", "sender_source", "is_rule_tracker", "model_id", "assistant_id", "_max_event_history",
                 *tracker_replays.STATE):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert {n: (s.value, s.has_been_set) for n, s in ours.slots.items()} == {
        n: (s.value, s.has_been_set) for n, s in theirs.slots.items()
    }
    assert all(ours.slots[n] is not source.slots[n] for n in ours.slots)
    if source.active_loop is not None:
        assert ours.active_loop is not source.active_loop
    assert ours.current_state(EventVerbosity.ALL) == theirs.current_state(EventVerbosity.ALL)


def _grow_and_check(tracker: DialogueStateTracker, events, rasas, domain: Domain) -> int:
    checked = 0
    for event in events:
        tracker.update(event)
        assert tracker.applied_events() == rasas["applied"](tracker)
        _same_copy(tracker.copy(), rasas["copy"](tracker), tracker)
        checked += 1
    copied = tracker.copy()
    assert copied.past_states(domain) == rasas["copy"](tracker).past_states(domain)
    return checked


def test_every_prefix_of_every_training_conversation(domain, training_trackers, rasas):
    checked = 0
    for tracker in training_trackers:
        grown = DialogueStateTracker(tracker.sender_id, domain.slots, is_rule_tracker=tracker.is_rule_tracker)
        checked += _grow_and_check(grown, list(tracker.events), rasas, domain)
    assert checked > 300


def _turns() -> list:
    return [
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
        UserUttered("lenin was a dictator", {"name": "claim_authoritarian_personality", "confidence": 0.9}),
        ActionExecuted("action_rebut_claim"), SlotSet("raised_points", ["claim_authoritarian_personality"]),
        ActionExecuted("action_listen"),
        UserUttered("quiz me", {"name": "start_practice", "confidence": 0.9}),
        ActionExecuted("action_start_practice"), ActiveLoop("practice_form"), ActionExecuted("practice_form"),
        ActionExecuted("action_listen"),
        UserUttered("what is the NEP?", {"name": "ask_essay", "confidence": 0.9}),
        ActionExecuted("practice_form"),  # the loop's action again: Rasa's walk undoes the interruption
        ActionExecuted("action_answer_question"), ActionExecuted("practice_form"),
        ActiveLoop(None), ActionExecuted("action_listen"),
    ]


@pytest.mark.parametrize("undo", [
    [UserUtteranceReverted()], [ActionReverted()], [Restarted()],
    [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")],
])
def test_undone_turns_loops_restarts_and_new_sessions(domain, rasas, undo):
    tracker = DialogueStateTracker("undo", domain.slots)
    after = [ActionExecuted("action_listen"), UserUttered("thanks", {"name": "thank", "confidence": 0.9})]
    assert _grow_and_check(tracker, _turns() + undo + after + _turns(), rasas, domain) > 30


def test_events_replaced_or_capped_are_walked_again(domain, rasas):
    tracker = DialogueStateTracker("replaced", domain.slots)
    _grow_and_check(tracker, _turns()[:8], rasas, domain)
    tracker.events = tracker._create_events(_turns()[:4])
    assert tracker.applied_events() == rasas["applied"](tracker)
    capped = DialogueStateTracker("capped", domain.slots, max_event_history=5)
    assert _grow_and_check(capped, _turns(), rasas, domain) == len(_turns())


def test_a_changed_function_the_copy_relies_on_is_refused(monkeypatch):
    rasa_patches.uninstall(["tracker_copy"])
    original = DialogueStateTracker.copy
    patch = next(p for p in tracker_replays.PATCHES if p.name == "tracker_copy")
    stale = dataclasses.replace(patch, reads=((patch.reads[0][0], "0" * 16), *patch.reads[1:]))
    monkeypatch.setattr(tracker_replays, "PATCHES", [p if p is not patch else stale for p in tracker_replays.PATCHES])
    try:
        with pytest.raises(PatchRefused, match=r"'tracker_copy' refused: .*DialogueStateTracker\.__init__"):
            rasa_patches.install(["tracker_copy"])
        assert DialogueStateTracker.copy is original
    finally:
        monkeypatch.undo()
        rasa_patches.install()


def test_a_tracker_holding_state_the_copy_does_not_know_is_refused(monkeypatch):
    rasa_patches.uninstall(["tracker_copy"])
    monkeypatch.setattr(tracker_replays, "STATE", tracker_replays.STATE[:-1])
    try:
        with pytest.raises(PatchRefused, match=r"'tracker_copy' refused: .*active_loop"):
            rasa_patches.install(["tracker_copy"])
    finally:
        monkeypatch.undo()
        rasa_patches.install()
