"""Custom action calls: the response schema checked once, and only this turn's events sent.

- Each custom action's response is checked with ``jsonschema.validate``, which first checks
  the schema itself against its meta-schema: about 50 ms per action with jsonschema 4.17,
  more than the rest of the reply together. The schema is Rasa's own constant, so it is
  checked once per action class and its validator kept. A bad response still gets Rasa's own
  ``ValidationError``.
- Each call carries the whole conversation (every event, at all verbosity): about 150 KB of
  JSON at twenty turns, encoded on the event loop and decoded again by the action server,
  every turn and growing. Our actions read the latest message, the slots, the active loop and
  this turn's slot events (form validation), so only the events from the latest user message
  on are sent (``tests/test_rasa_patches.py`` fails if an action starts reading
  ``tracker.events``). The rest of the request is Rasa 3.6's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.rasa_patches import Patch


def current_turn(events: list[Any]) -> list[Any]:
    """The events from the latest user message on (all of them if there is none)."""
    from rasa.shared.core.events import UserUttered

    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], UserUttered):
            return events[index:]
    return events


def _validator(schema: dict[str, Any]) -> Any:
    from jsonschema.validators import validator_for

    kind = validator_for(schema)
    kind.check_schema(schema)
    return kind(schema)


def _validate_once(original: Callable[..., bool]) -> Callable[..., bool]:
    from jsonschema import ValidationError

    validators: dict[type, Any] = {}

    def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        kind = type(self)
        if kind not in validators:
            validators[kind] = _validator(self.action_response_format_spec())
        try:
            validators[kind].validate(result)
        except ValidationError:
            return original(self, result)  # Rasa's own error message
        return True

    return validate_action_result


def _this_turn(_original: Callable[..., dict]) -> Callable[..., dict]:
    def action_call_format(self: Any, tracker: Any, domain: Any) -> dict[str, Any]:
        """Rasa 3.6's request, with this turn's events instead of every event."""
        import rasa
        from rasa.shared.core.trackers import EventVerbosity

        state = tracker.current_state(EventVerbosity.NONE)
        state["events"] = [event.as_dict() for event in current_turn(list(tracker.events))]
        result = {"next_action": self._name, "sender_id": tracker.sender_id, "tracker": state, "version": rasa.__version__}
        if not self._is_selective_domain_enabled() or domain.does_custom_action_explicitly_need_domain(self.name()):
            result["domain"] = domain.as_dict()
        return result

    return action_call_format


PATCHES = [
    Patch(
        "action_response_schema",
        "rasa.core.actions.action:RemoteAction._validate_action_result",
        "f8cdb4be68123961",
        _validate_once,
    ),
    Patch("action_call_this_turn", "rasa.core.actions.action:RemoteAction._action_call_format", "428795b944f22edb", _this_turn),
]
