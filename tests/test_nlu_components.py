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

from bot.essay.knowledge import COUNTER_ARGUMENT_KEY
from bot.nlu.charge_extractor import ChargeEntityExtractor
from bot.nlu.counter_argument_reader import CounterArgumentReader
from bot.nlu.sentence_featurizer import SentenceEmbeddingFeaturizer
from bot.scoring.judge import JudgeUnavailable


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


CLAIM = "claim_authoritarian_personality"
ESSAY_SIDE = "Lenin was no would-be dictator: a man hungry for power would not have chosen a life of prison, exile and isolation."
CLAIM_SIDE = "Lenin was a power-hungry dictator from the very start."


def read_as(text, intent, confidence, rest=(("agree_discontinuity", 0.15), ("out_of_scope", 0.05))):
    (message,) = tokenised(text)
    ranking = [{"name": intent, "confidence": confidence}, *({"name": n, "confidence": c} for n, c in rest)]
    message.set("intent", ranking[0])
    message.set("intent_ranking", ranking)
    return message


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    return create(CounterArgumentReader, {}, tmp_path_factory.mktemp("reader"))


def test_a_doubtful_claim_that_makes_one_of_its_key_points_is_read_as_agreement(reader):
    (message,) = reader.process([read_as(ESSAY_SIDE, CLAIM, 0.6)])
    assert message.get("intent") == {"name": "agree_discontinuity", "confidence": 0.6}
    assert [(r["name"], r["confidence"]) for r in message.get("intent_ranking")] == [
        ("agree_discontinuity", 0.6), (CLAIM, 0.15), ("out_of_scope", 0.05),
    ]
    assert message.get(COUNTER_ARGUMENT_KEY)["claim"] == CLAIM
    assert message.get(COUNTER_ARGUMENT_KEY)["key_point"] == "ap-1"
    assert message.get(COUNTER_ARGUMENT_KEY)["score"] >= reader.threshold


def test_agreement_missing_from_a_short_ranking_is_added(reader):
    (message,) = reader.process([read_as(ESSAY_SIDE, CLAIM, 0.6, rest=())])
    assert [(r["name"], r["confidence"]) for r in message.get("intent_ranking")] == [
        ("agree_discontinuity", 0.6), (CLAIM, 0.0),
    ]


@pytest.mark.parametrize(
    ("text", "intent", "confidence"),
    [
        (CLAIM_SIDE, CLAIM, 0.6),  # the claim itself: makes none of the essay's answers
        (ESSAY_SIDE, CLAIM, 0.95),  # read with confidence: left to the classifier
        (ESSAY_SIDE, "claim_october_coup", 0.6),  # makes a key point, but of another claim
        (ESSAY_SIDE, "out_of_scope", 0.6),  # not a claim
    ],
)
def test_other_readings_are_left_as_the_classifier_made_them(reader, text, intent, confidence):
    (message,) = reader.process([read_as(text, intent, confidence)])
    assert message.get("intent") == {"name": intent, "confidence": confidence}
    assert message.get(COUNTER_ARGUMENT_KEY) is None


def test_a_batch_is_judged_message_by_message(reader):
    messages = reader.process([read_as(CLAIM_SIDE, CLAIM, 0.6), read_as(ESSAY_SIDE, CLAIM, 0.6), read_as("", CLAIM, 0.6)])
    assert [m.get("intent")["name"] for m in messages] == [CLAIM, "agree_discontinuity", CLAIM]


@pytest.mark.parametrize(
    "config", [{"key_point_threshold": 0}, {"below_confidence": 1.5}, {"agreement_intent": ""}], ids=str,
)
def test_counter_argument_reader_rejects_a_bad_config(tmp_path, config):
    (key,) = config
    with pytest.raises(ValueError, match=key):
        create(CounterArgumentReader, config, tmp_path)


def test_counter_argument_reader_without_the_judge_names_the_remedy(tmp_path):
    with pytest.raises(JudgeUnavailable, match="make train-matcher"):
        create(CounterArgumentReader, {"judge": str(tmp_path / "no-judge")}, tmp_path)
