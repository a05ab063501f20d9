"""The custom NLU components, built directly as Rasa would build them."""

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.charge_extractor import ChargeEntityExtractor
from bot.nlu.sentence_featurizer import SentenceEmbeddingFeaturizer


def create(component, config, tmp_path):
    return component.create(
        {**component.get_default_config(), **config},
        LocalModelStorage(tmp_path),
        Resource("test"),
        ExecutionContext(graph_schema=None, node_name="test"),
    )


def tokenised(*texts):
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    messages = [Message({TEXT: t}) for t in texts]
    tokenizer.process(messages)
    return messages


def test_featurizer_adds_one_sentence_vector_of_the_models_dimension(tmp_path, encoder):
    featurizer = create(SentenceEmbeddingFeaturizer, {}, tmp_path)
    (message,) = featurizer.process(tokenised("Lenin was a dictator"))
    sequence, sentence = message.get_dense_features(TEXT, [])
    assert sequence is None
    assert sentence.features.shape == (1, encoder.dimension)
    assert np.isclose(np.linalg.norm(sentence.features), 1.0, atol=1e-4)


def test_featurizer_featurizes_training_data_in_batches(tmp_path):
    featurizer = create(SentenceEmbeddingFeaturizer, {"batch_size": 2}, tmp_path)
    data = TrainingData(tokenised("one", "two", "three"))
    featurizer.process_training_data(data)
    assert all(m.get_dense_features(TEXT, [])[1] is not None for m in data.training_examples)


def test_featurizer_rejects_a_bad_config(tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        create(SentenceEmbeddingFeaturizer, {"batch_size": 0}, tmp_path)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("the VECHEKA was the start of it all", "cheka"),
        ("what about the sailors at Kronstadt", "kronstadt"),
        ("he shut down the constituent assembly by force", "constituent_assembly"),
        ("the tenth congress banned factions", "faction_ban"),
        ("one-man management replaced workers control", "one_man_management"),
        ("Lenin refused to share power with the other socialists", "coalition"),
        ("the sailors' mutiny was drowned in blood", "kronstadt"),
        ("by 1919 he had outlawed the Mensheviks", "banning_parties"),
        ("the chekists shot people without trial", "cheka"),
    ],
)
def test_charge_extractor_finds_unseen_phrasings(tmp_path, text, value):
    extractor = create(ChargeEntityExtractor, {}, tmp_path)
    (message,) = extractor.process(tokenised(text))
    assert [e["value"] for e in message.get("entities") if e["entity"] == "charge"] == [value]


def test_charge_extractor_normalises_or_drops_other_extractors_values(tmp_path):
    extractor = create(ChargeEntityExtractor, {}, tmp_path)
    (message,) = tokenised("the red terror and something else")
    message.set("entities", [
        {"entity": "charge", "value": "something else", "start": 18, "end": 32, "extractor": "DIETClassifier"},
        {"entity": "other", "value": "x", "start": 0, "end": 3},
    ])
    extractor.process([message])
    entities = message.get("entities")
    assert [(e["entity"], e["value"]) for e in entities] == [("other", "x"), ("charge", "cheka")]


def test_charge_extractor_rejects_a_missing_claims_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        create(ChargeEntityExtractor, {"claims_file": str(tmp_path / "nope.yml")}, tmp_path)
