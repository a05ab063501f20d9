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
