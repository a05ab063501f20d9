"""Recognise the charge-sheet item a student names, from the terms in ``knowledge/claims.yml``.

A spaCy EntityRuler over lower-cased tokens finds phrasings no training example has
(a variant spelling, an ordinal written as digits); ``charge`` entities from another extractor in the
pipeline are kept where the ruler found nothing, and mapped to a known value or dropped.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.essay.knowledge import configured_claims_file, load_knowledge
from bot.nlu.terms import TermMatcher


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class ChargeEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Adds entities of type ``entity`` whose values are the charges' keys."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # The entity type to produce and to clean up in other extractors' output.
            "entity": "charge",
            # The claims file whose `charges` give each value its terms; default: knowledge/.
            "claims_file": None,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["spacy"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        configured_claims_file(config, cls.__name__)
        if not config.get("entity"):
            raise ValueError(f"{cls.__name__}: 'entity' must name an entity type")

    def __init__(self, config: dict[str, Any], name: str) -> None:
        self._config = {**self.get_default_config(), **config}
        self.validate_config(self._config)
        self._node_name = name
        self.entity = self._config["entity"]
        charges = load_knowledge(configured_claims_file(self._config, type(self).__name__)).charges
        self.matcher = TermMatcher(
            {key: charge.terms for key, charge in charges.items()},
            {key: charge.cues for key, charge in charges.items() if charge.cues},
        )

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ChargeEntityExtractor:
        return cls(config, execution_context.node_name)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if text:
                message.set(ENTITIES, self._merge(text, message.get(ENTITIES, [])), add_to_output=True)
        return messages

    def _merge(self, text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = self.matcher.find(text)
        first_of_value = {m.value: m for m in reversed(found)}
        named_once = [m for m in found if first_of_value[m.value] is m]
        kept: list[dict[str, Any]] = []
        for entity in entities:
            if entity.get(ENTITY_ATTRIBUTE_TYPE) != self.entity:
                kept.append(entity)
                continue
            start, end = entity.get(ENTITY_ATTRIBUTE_START, 0), entity.get(ENTITY_ATTRIBUTE_END, 0)
            if any(m.start < end and start < m.end for m in found):
                continue  # the ruler's match covers it, with a normalised value
            value = entity.get(ENTITY_ATTRIBUTE_VALUE)
            if value in self.matcher.values:
                kept.append(entity)
            else:
                mapped = self.matcher.value_of(str(value))
                if mapped:
                    kept.append({**entity, ENTITY_ATTRIBUTE_VALUE: mapped})
        for match in named_once:
            kept.append(
                self.add_extractor_name([
                    {
                        ENTITY_ATTRIBUTE_TYPE: self.entity,
                        ENTITY_ATTRIBUTE_VALUE: match.value,
                        ENTITY_ATTRIBUTE_START: match.start,
                        ENTITY_ATTRIBUTE_END: match.end,
                        "text": text[match.start:match.end],
                        "confidence_entity": 1.0,
                    }
                ])[0]
            )
        return sorted(kept, key=lambda e: e.get(ENTITY_ATTRIBUTE_START, 0))
