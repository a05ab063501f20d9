"""What Rasa 3.6 does on every reply that costs time for no benefit, removed (found by profiling).

- Each custom action's response is checked with ``jsonschema.validate``, which first checks
  the schema itself against its meta-schema: about 50 ms per action with jsonschema 4.17,
  more than the rest of the reply together. The schema is Rasa's own constant, so it is
  checked once and its validator kept.
- Each stored event is turned back into its class by scanning every subclass of ``Event``
  (about 1 ms per ten events, every turn, for the whole conversation). The classes do not
  change while the server runs, so the name-to-class answer is kept.
- NLU (MiniLM, DIET) runs synchronously on the server's only event loop, so while one message
  is understood no other student's message moves. It runs in a worker thread instead: the
  models release the GIL, and the loop goes on with other conversations meanwhile. The
  message's own conversation is still locked, so its order does not change.

Each keeps Rasa's behaviour: the same ValidationError for a bad response, the same class (or
the same error) for an event name, the same parse data. ``apply`` is idempotent; the model's
featurizer calls it, so every server that loads this model gets it.
"""

from __future__ import annotations

import asyncio
from typing import Any

_applied = False


def _validator(schema: dict[str, Any]) -> Any:
    from jsonschema.validators import validator_for

    kind = validator_for(schema)
    kind.check_schema(schema)
    return kind(schema)


def apply() -> None:
    global _applied
    if _applied:
        return
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core import events
    from rasa.shared.utils.common import all_subclasses

    original_validate = RemoteAction._validate_action_result
    validators: dict[type, Any] = {}  # the response schema is a constant of the action class

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        kind = type(self)
        if kind not in validators:
            validators[kind] = _validator(self.action_response_format_spec())
        try:
            validators[kind].validate(result)
        except ValidationError:
            return original_validate(self, result)  # Rasa's own error message
        return True

    found: dict[str, type] = {}
    original_resolve = events.Event.resolve_by_type

    def resolve_by_type(type_name: str, default: type | None = None) -> type | None:
        cls = found.get(type_name)
        if cls is None:
            for candidate in all_subclasses(events.Event):
                if candidate.type_name == type_name:
                    cls = found[type_name] = candidate
                    break
        return cls if cls is not None else original_resolve(type_name, default)

    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.trackers import DialogueStateTracker

    original_parse = MessageProcessor.parse_message

    async def parse_message(
        self: MessageProcessor, message: Any, tracker: Any = None, only_output_properties: bool = True
    ) -> dict[str, Any]:
        if self.http_interpreter:
            return await original_parse(self, message, tracker, only_output_properties)
        if tracker is None:
            tracker = DialogueStateTracker.from_events(message.sender_id, [])
        parse_data = await asyncio.to_thread(self._parse_message_with_graph, message, tracker, only_output_properties)
        self._update_full_retrieval_intent(parse_data)
        self._check_for_unseen_features(parse_data)
        return parse_data

    MessageProcessor.parse_message = parse_message
    RemoteAction._validate_action_result = validate_action_result
    events.Event.resolve_by_type = staticmethod(resolve_by_type)
    _applied = True
