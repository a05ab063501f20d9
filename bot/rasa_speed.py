"""What Rasa 3.6 does on every reply that costs time for no benefit, removed (found by profiling).

- Each custom action's response is checked with ``jsonschema.validate``, which first checks
  the schema itself against its meta-schema: about 50 ms per action with jsonschema 4.17,
  more than the rest of the reply together. The schema is Rasa's own constant, so it is
  checked once and its validator kept.
- Each stored event is turned back into its class by scanning every subclass of ``Event``
  (about 1 ms per ten events, every turn, for the whole conversation). The classes do not
  change while the server runs, so the name-to-class answer is kept.
- NLU (MiniLM, DIET) runs synchronously on the server's only event loop, so while one message
  is understood no other student's message moves. It runs in worker threads instead, as many
  as there are cores: the models release the GIL, and the loop goes on with other
  conversations meanwhile. The message's own conversation is still locked, so its order does
  not change.
- Each custom action call carries the whole conversation (every event, at all verbosity):
  about 150 KB of JSON at twenty turns, encoded on the event loop and decoded again by the
  action server, every turn and growing. Our actions read the latest message, the slots, the
  active loop and this turn's slot events (form validation), so only the events from the
  latest user message on are serialised and sent (``tests/test_rasa_speed.py`` fails if an
  action starts reading ``tracker.events``).
- Before every prediction each policy rebuilds the dialogue state of every step of the
  conversation; ``bot/dialogue_states.py`` carries them forward from turn to turn instead.
- Python's full garbage collection walks every object the process holds. With TensorFlow,
  torch and the models loaded that is millions of objects, 0.3 to 0.7 s with the GIL held,
  every few seconds under load: every student waits. The loaded model is collected once and
  then frozen (``gc.freeze``), and again after its first parse (TensorFlow builds its graph
  then), so later collections walk only what the conversations create: 5 ms, not 500.

Each keeps Rasa's behaviour: the same ValidationError for a bad response, the same class (or
the same error) for an event name, the same parse data, the same tracker for the actions
except the earlier turns' events. ``apply`` is idempotent; the model's featurizer calls it, so
every server that loads this model gets it.
"""

from __future__ import annotations

import asyncio
import gc
import os
from typing import Any

_applied = False
_parsed: list[bool] = []  # one entry once the loaded model has parsed (and the heap is frozen)
_pool: list[Any] = []


def _nlu_pool() -> Any:
    """As many NLU threads as cores: more only wait for each other and for Python's lock."""
    if not _pool:
        from concurrent.futures import ThreadPoolExecutor

        _pool.append(ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="nlu"))
    return _pool[0]


def current_turn(events: list[Any]) -> list[Any]:
    """The events from the latest user message on (all of them if there is none)."""
    from rasa.shared.core.events import UserUttered

    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], UserUttered):
            return events[index:]
    return events


def freeze_heap() -> None:
    """Collect once, then keep what survives out of every later collection.

    Called when a model or the action server has loaded; a model loaded later (``PUT
    /model``) unfreezes the heap first, so the replaced model can still be collected.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def prepare_server() -> None:
    """In a server, keep dialogue states across turns and freeze the heap after the load.

    A model is loaded by a server while its event loop runs; training and scripts have no
    running loop and are left exactly as Rasa runs them. The featurizer is built in the middle
    of Rasa's (synchronous) model load, so the freeze scheduled now runs only once the load
    is finished.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    from bot import dialogue_states

    dialogue_states.install()
    _parsed.clear()
    loop.call_soon(freeze_heap)


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

    def action_call_format(self: RemoteAction, tracker: Any, domain: Any) -> dict[str, Any]:
        """Rasa 3.6's request, with this turn's events instead of every event."""
        import rasa
        from rasa.shared.core.trackers import EventVerbosity

        state = tracker.current_state(EventVerbosity.NONE)
        state["events"] = [event.as_dict() for event in current_turn(list(tracker.events))]
        result = {"next_action": self._name, "sender_id": tracker.sender_id, "tracker": state, "version": rasa.__version__}
        if not self._is_selective_domain_enabled() or domain.does_custom_action_explicitly_need_domain(self.name()):
            result["domain"] = domain.as_dict()
        return result

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
        parse_data = await asyncio.get_running_loop().run_in_executor(
            _nlu_pool(), self._parse_message_with_graph, message, tracker, only_output_properties
        )
        if not _parsed:
            _parsed.append(True)
            freeze_heap()
        self._update_full_retrieval_intent(parse_data)
        self._check_for_unseen_features(parse_data)
        return parse_data

    MessageProcessor.parse_message = parse_message
    RemoteAction._validate_action_result = validate_action_result
    RemoteAction._action_call_format = action_call_format
    events.Event.resolve_by_type = staticmethod(resolve_by_type)
    _applied = True
