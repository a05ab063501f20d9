"""Read a claim back as agreement when the message makes one of the essay's answers to that claim.

A message in a claim's own words can take either side ("October was a coup" against "how was it a
coup when the soviets voted for it?"): word counts and a sentence vector hardly tell the two apart
(docs/nlu-pipelines.md, rounds 5-10). The essay's answers to a claim are its key points in
``knowledge/claims.yml``, and the key point judge was trained to say whether a text makes a key
point. So a message the intent classifier reads as a claim, without full confidence, that the judge
says makes one of that claim's key points is on the essay's side. Both thresholds were chosen by
cross-validation on ``data/nlu`` (round 11).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.essay.knowledge import COUNTER_ARGUMENT_KEY, configured_claims_file, load_knowledge
from bot.nlu.agreement_reader import AgreementReader, swap_readings
from bot.scoring.judge import JUDGE_DIR, Judge, shared_judge

__all__ = ["CounterArgumentReader", "swap_readings"]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CounterArgumentReader(AgreementReader):
    """Moves ``agreement_intent`` above a claim the message argues against in the essay's words."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # The intent that means "the student takes the essay's side".
            "agreement_intent": "agree_discontinuity",
            # Claims read with at least this confidence are left alone (and cost no judging).
            "below_confidence": 0.8,
            # The judge's score for one of the claim's key points that makes the message agreement.
            "key_point_threshold": 0.95,
            # The claims file whose `claims` give each intent its key points; default: knowledge/.
            "claims_file": None,
            # The key point judge's folder; default: models/key-point-matcher/.
            "judge": None,
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        super().validate_config(config)
        for key in ("below_confidence", "key_point_threshold"):
            if not 0.0 < float(config[key]) <= 1.0:
                raise ValueError(f"{cls.__name__}: {key} must be in (0, 1], not {config[key]!r}")

    def __init__(self, config: dict[str, Any], judge: Judge | None = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self.validate_config(self._config)
        self.key_points = {
            intent: [(kp.id, kp.text) for kp in claim.key_points]
            for intent, claim in load_knowledge(configured_claims_file(self._config, type(self).__name__)).claims.items()
        }
        self.agreement = self._config["agreement_intent"]
        self.below = float(self._config["below_confidence"])
        self.threshold = float(self._config["key_point_threshold"])
        if judge is None:
            folder = Path(self._config["judge"]) if self._config["judge"] else JUDGE_DIR
            judge = shared_judge() if folder == JUDGE_DIR else Judge(folder)
            judge.check()
        self.judge = judge

    def _doubtful_claims(self, messages: list[Message]) -> list[tuple[Message, str]]:
        found = []
        for message in messages:
            intent = message.get(INTENT) or {}
            name = intent.get(INTENT_NAME_KEY)
            if message.get(TEXT) and name in self.key_points and intent.get(PREDICTED_CONFIDENCE_KEY, 1.0) < self.below:
                found.append((message, name))
        return found

    def warm(self) -> None:
        self.judge.warm()

    def read(self, messages: list[Message]) -> None:
        doubtful = self._doubtful_claims(messages)
        best = self.best_answers([(m.get(TEXT), claim) for m, claim in doubtful])
        for (message, claim), (score, kp_id) in zip(doubtful, best, strict=True):
            if score >= self.threshold:
                self._read_as_agreement(message, claim, kp_id, score)

    def best_answers(self, items: list[tuple[str, str]]) -> list[tuple[float, str]]:
        """For each (text, claim), the judge's best score over the claim's key points, and that key point's id."""
        pairs = [(text, kp_text) for text, claim in items for _, kp_text in self.key_points[claim]]
        scores = iter(self.judge.score(pairs).tolist())
        return [max([(next(scores), kp_id) for kp_id, _ in self.key_points[claim]]) for _, claim in items]

    def _read_as_agreement(self, message: Message, claim: str, key_point: str, score: float) -> None:
        swap_readings(message, claim, self.agreement)
        message.set(COUNTER_ARGUMENT_KEY, {"claim": claim, "key_point": key_point, "score": round(score, 3)}, add_to_output=True)
