"""What the readers of the essay's side share: a claim they judge not asserted swaps places with agreement.

``CounterArgumentReader`` (the key point judge) and ``StanceReader`` (the trained stance reader) each
take some messages the intent classifier reads as a claim and read them as agreement instead. Both
are untrained Rasa components over a model loaded from disk, warmed by the server's first parse.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.essay.knowledge import configured_claims_file

__all__ = ["AgreementReader", "swap_readings"]


class AgreementReader(GraphComponent, IntentClassifier):
    """The config check, creation and warm-up of a reader; subclasses say what they read and how."""

    _warmed = False

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        configured_claims_file(config, cls.__name__)
        if not config.get("agreement_intent"):
            raise ValueError(f"{cls.__name__}: 'agreement_intent' must name an intent")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> AgreementReader:
        return cls(config)

    def warm(self) -> None:
        """Load the model the reader judges with."""
        raise NotImplementedError

    def read(self, messages: list[Message]) -> None:
        """Read as agreement the messages' claims the model says are not asserted."""
        raise NotImplementedError

    def process(self, messages: list[Message]) -> list[Message]:
        if not self._warmed and any(m.get(TEXT) for m in messages):
            # The server's warm-up parse loads the model, before its heap is frozen and before a student waits.
            self.warm()
            self._warmed = True
        self.read(messages)
        return messages


def swap_readings(message: Message, claim: str, other: str) -> None:
    """Swap two intents' confidences, so what follows (the fallback) sees the same margins."""
    ranking = [dict(r) for r in message.get(INTENT_RANKING_KEY) or [message.get(INTENT)]]
    confidence = {r[INTENT_NAME_KEY]: r[PREDICTED_CONFIDENCE_KEY] for r in ranking}
    claimed = confidence[claim]
    agreed = confidence.get(other, 0.0)
    if other not in confidence:
        ranking.append({INTENT_NAME_KEY: other, PREDICTED_CONFIDENCE_KEY: agreed})
    for r in ranking:
        if r[INTENT_NAME_KEY] == claim:
            r[PREDICTED_CONFIDENCE_KEY] = agreed
        elif r[INTENT_NAME_KEY] == other:
            r[PREDICTED_CONFIDENCE_KEY] = claimed
    ranking.sort(key=lambda r: -r[PREDICTED_CONFIDENCE_KEY])
    message.set(INTENT, ranking[0], add_to_output=True)
    message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
