"""Read a claim back as agreement when the trained stance reader says the message does not assert it.

The intent classifier finds the claim a message is about; whether the student asserts it or denies it
in its own words is what it reads worst (docs/nlu-pipelines.md). ``bot.nlu.stance`` was trained for
exactly that. A message read as a claim whose stance score is below ``threshold`` takes the essay's
side: its claim and the agreement intent swap confidences. ``config.yml`` runs it after the
counter-argument reader, its threshold chosen on the development sets and judged on a held-out set no
one had seen (round 15c of docs/nlu-pipelines.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.essay.knowledge import configured_claims_file, load_knowledge
from bot.nlu.agreement_reader import AgreementReader, swap_readings
from bot.nlu.stance import STANCE_DIR, StanceModel, shared_stance_model

STANCE_KEY = "stance"
"""Where the NLU records a stance reading that changed the intent: {"claim", "asserts"}."""


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class StanceReader(AgreementReader):
    """Moves ``agreement_intent`` above a claim the message does not assert."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # The intent that means "the student takes the essay's side".
            "agreement_intent": "agree_discontinuity",
            # A claim whose stance score (the probability that the message asserts it) is below this is agreement.
            "threshold": 0.5,
            # The claims file whose `claims` name the claim intents; default: knowledge/.
            "claims_file": None,
            # The stance reader's folder; default: models/stance-reader/ (make train-stance).
            "model": None,
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        super().validate_config(config)
        if not 0.0 <= float(config["threshold"]) < 1.0:
            raise ValueError(f"{cls.__name__}: threshold must be in [0, 1), not {config['threshold']!r}")

    def __init__(self, config: dict[str, Any], model: StanceModel | None = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self.validate_config(self._config)
        self.claims = set(load_knowledge(configured_claims_file(self._config, type(self).__name__)).claims)
        self.agreement = self._config["agreement_intent"]
        self.threshold = float(self._config["threshold"])
        if model is None:
            folder = Path(self._config["model"]) if self._config["model"] else STANCE_DIR
            model = shared_stance_model() if folder == STANCE_DIR else StanceModel(folder)
            model.check()
        self.model = model

    def warm(self) -> None:
        self.model.warm()

    def read(self, messages: list[Message]) -> None:
        read = [(m, (m.get(INTENT) or {}).get(INTENT_NAME_KEY)) for m in messages if m.get(TEXT)]
        read = [(m, claim) for m, claim in read if claim in self.claims]
        scores = self.model.score([m.get(TEXT) for m, _ in read]).tolist()
        for (message, claim), score in zip(read, scores, strict=True):
            if score < self.threshold:
                swap_readings(message, claim, self.agreement)
                message.set(STANCE_KEY, {"claim": claim, "asserts": round(score, 3)}, add_to_output=True)
