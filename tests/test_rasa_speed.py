"""Rasa's reply path with the waste removed still behaves as Rasa does."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core import events
from rasa.shared.utils.common import all_subclasses

from bot import rasa_speed


@pytest.fixture(scope="module")
def remote() -> RemoteAction:
    rasa_speed.apply()
    rasa_speed.apply()  # twice is the same as once
    return RemoteAction("action_anything", None)


def test_a_valid_action_response_passes(remote):
    result = {
        "events": [{"event": "slot", "name": "shown", "value": ["p1"]}],
        "responses": [{"text": "hello", "buttons": []}],
    }
    assert remote._validate_action_result(result) is True


@pytest.mark.parametrize(
    "result",
    [
        {"events": "not a list"},
        {"events": [{"event": "slot", "name": 3}]},
        {"responses": "hello"},
    ],
)
def test_an_invalid_action_response_fails_with_rasas_message(remote, result):
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        remote._validate_action_result(result)


def test_every_event_name_resolves_to_the_class_rasa_finds():
    rasa_speed.apply()
    for cls in all_subclasses(events.Event):
        assert events.Event.resolve_by_type(cls.type_name) is next(
            c for c in all_subclasses(events.Event) if c.type_name == cls.type_name
        )
    assert events.Event.resolve_by_type("no_such_event", default=events.SlotSet) is events.SlotSet
    assert events.Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError, match="Unknown event name"):
        events.Event.resolve_by_type("no_such_event")


def test_stored_events_round_trip():
    rasa_speed.apply()
    stored = [
        events.UserUttered("hi", {"name": "greet", "confidence": 1.0}).as_dict(),
        events.SlotSet("shown", ["p1"]).as_dict(),
        events.ActionExecuted("action_listen").as_dict(),
        events.BotUttered("hello").as_dict(),
    ]
    back = events.deserialise_events(stored)
    assert [type(e) for e in back] == [events.UserUttered, events.SlotSet, events.ActionExecuted, events.BotUttered]
    assert back[1].value == ["p1"]


def test_an_action_is_sent_only_this_turns_events(remote):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

    from bot.paths import ROOT

    domain = Domain.load(str(ROOT / "domain.yml"))
    tracker = DialogueStateTracker.from_events("ana", [
        events.ActionExecuted("action_listen"),
        events.UserUttered("lenin was a dictator", {"name": "claim_authoritarian_personality", "confidence": 0.9}),
        events.SlotSet("shown_passages", ["p1"]),
        events.BotUttered("point 1"),
        events.ActionExecuted("action_listen"),
        events.UserUttered("tell me more", {"name": "tell_more", "confidence": 1.0}),
        events.SlotSet("practice_answer", ["a"]),
    ], slots=domain.slots)
    payload = remote._action_call_format(tracker, domain)
    whole = tracker.current_state(EventVerbosity.ALL)
    state = payload["tracker"]
    assert {k: v for k, v in state.items() if k != "events"} == {k: v for k, v in whole.items() if k != "events"}
    assert state["events"] == whole["events"][-2:]
    assert payload["next_action"] == "action_anything" and payload["sender_id"] == "ana" and "domain" in payload
    assert [e["event"] for e in state["events"]] == ["user", "slot"]
    assert state["latest_message"]["text"] == "tell me more"
    assert state["slots"]["shown_passages"] == ["p1"]  # slots still come whole
    assert len(tracker.events) == 7  # the conversation itself is untouched


def test_current_turn():
    turn = [events.UserUttered("b"), events.SlotSet("x", 1)]
    assert rasa_speed.current_turn([events.ActionExecuted("action_listen"), events.UserUttered("a"), *turn]) == turn
    assert rasa_speed.current_turn([events.ActionExecuted("action_listen")]) == [events.ActionExecuted("action_listen")]
    assert rasa_speed.current_turn([]) == []


def test_no_action_reads_past_events():
    """Actions are sent only this turn's events: one that reads further back must say so here."""
    import ast

    from bot.paths import ROOT

    for path in (ROOT / "actions").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        reads = [
            node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr in {"events", "events_after_latest_restart", "get_last_event_for", "applied_events"}
        ]
        assert not reads, f"{path.name} reads tracker events at lines {reads}"


def test_the_frozen_heap_is_left_out_of_collections():
    import gc

    try:
        rasa_speed.freeze_heap()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000
        rasa_speed.freeze_heap()  # again (a model loaded later): unfrozen, collected, frozen
        assert abs(gc.get_freeze_count() - frozen) < frozen // 2
    finally:
        gc.unfreeze()


def test_the_heap_is_frozen_and_states_kept_only_under_a_running_server():
    import asyncio
    import gc

    from rasa.shared.core.domain import Domain

    from bot import dialogue_states

    dialogue_states.uninstall()
    gc.unfreeze()
    rasa_speed.prepare_server()  # no event loop (training, a script): nothing happens
    assert gc.get_freeze_count() == 0
    assert Domain.states_for_tracker_history is not dialogue_states.states_for_tracker_history

    async def load_then_serve() -> int:
        rasa_speed.prepare_server()
        assert gc.get_freeze_count() == 0  # not in the middle of the load
        await asyncio.sleep(0)
        return gc.get_freeze_count()

    try:
        assert asyncio.run(load_then_serve()) > 0
        assert Domain.states_for_tracker_history is dialogue_states.states_for_tracker_history
    finally:
        gc.unfreeze()
        dialogue_states.uninstall()
