"""The linear intent classifier, trained and loaded as Rasa would build it."""

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.linear_intent_classifier import LinearIntentClassifier, mark_negation
from bot.nlu.sentence_featurizer import SentenceEmbeddingFeaturizer

TRAINING = {
    "greet": ["hello there", "hi", "good morning", "hey, how are you", "hiya friend", "greetings"],
    "weather": ["will it rain tomorrow", "is it sunny outside", "what's the forecast", "how cold is it today",
                "do I need an umbrella", "is there snow coming", "it isn't sunny, is it"],
    "food": ["what should I cook tonight", "recommend a pasta recipe", "I'm hungry, any ideas for lunch",
             "how do I bake bread", "what goes well with rice", "suggest a quick dinner"],
}
UNSEEN = {"greet": "hey hello", "weather": "is it going to rain later", "food": "give me a recipe for soup"}


def featurised(tmp_path, texts, intents=None):
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    labels = intents or [None] * len(texts)
    messages = [Message({TEXT: t, **({INTENT: i} if i else {})}) for t, i in zip(texts, labels, strict=True)]
    tokenizer.process(messages)
    featurizer = SentenceEmbeddingFeaturizer.create(
        SentenceEmbeddingFeaturizer.get_default_config(), LocalModelStorage(tmp_path / "f"), Resource("f"),
        ExecutionContext(graph_schema=None, node_name="f"),
    )
    return featurizer.process(messages)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("linear")
    texts = [t for ts in TRAINING.values() for t in ts]
    intents = [i for i, ts in TRAINING.items() for _ in ts]
    (tmp_path / "model").mkdir()
    storage, resource = LocalModelStorage(tmp_path / "model"), Resource("linear")
    classifier = LinearIntentClassifier.create(
        {"ranking_length": 2}, storage, resource, ExecutionContext(graph_schema=None, node_name="linear"),
    )
    classifier.train(TrainingData(featurised(tmp_path, texts, intents)))
    return classifier, storage, resource, tmp_path


def test_recognises_phrasings_it_never_saw(trained):
    classifier, _, _, tmp_path = trained
    messages = classifier.process(featurised(tmp_path, list(UNSEEN.values())))
    assert [m.get(INTENT)["name"] for m in messages] == list(UNSEEN)
    for message in messages:
        ranking = message.get("intent_ranking")
        assert len(ranking) == 2
        assert ranking[0]["confidence"] >= ranking[1]["confidence"]
        assert ranking[0] == message.get(INTENT)


def test_probabilities_are_scikit_learns_multinomial_predict_proba(trained):
    from sklearn.linear_model import LogisticRegression

    classifier, _, _, tmp_path = trained
    texts = [t for ts in TRAINING.values() for t in ts]
    intents = [i for i, ts in TRAINING.items() for _ in ts]
    config = classifier.component_config
    reference = LogisticRegression(
        C=config["C"], max_iter=config["max_iter"], class_weight="balanced", random_state=config["random_state"],
    ).fit(classifier._features(featurised(tmp_path, texts)), intents)
    unseen = featurised(tmp_path, list(UNSEEN.values()))
    expected = reference.predict_proba(classifier._features(unseen))
    assert list(reference.classes_) == classifier.classes
    np.testing.assert_allclose(classifier.probabilities(unseen), expected, atol=1e-5)


def test_a_loaded_model_gives_the_trained_models_probabilities(trained):
    classifier, storage, resource, tmp_path = trained
    loaded = LinearIntentClassifier.load(
        classifier.component_config, storage, resource, ExecutionContext(graph_schema=None, node_name="linear"),
    )
    unseen = featurised(tmp_path, [*UNSEEN.values(), "something else entirely"])
    np.testing.assert_array_equal(loaded.probabilities(unseen), classifier.probabilities(unseen))
    assert loaded.classes == classifier.classes


def test_a_message_without_text_is_left_alone(trained):
    classifier, *_ = trained
    (message,) = classifier.process([Message({})])
    assert message.get(INTENT) is None


def test_a_message_without_the_sentence_vector_is_a_clear_error(trained):
    classifier, *_ = trained
    with pytest.raises(ValueError, match="SentenceEmbeddingFeaturizer"):
        classifier.process([Message({TEXT: "hello"})])


def test_one_intent_is_not_enough_to_train(tmp_path):
    classifier = LinearIntentClassifier.create(
        {}, LocalModelStorage(tmp_path / "m"), Resource("m"), ExecutionContext(graph_schema=None, node_name="m"),
    )
    with pytest.raises(ValueError, match="two intents"):
        classifier.train(TrainingData(featurised(tmp_path, ["hi", "hello"], ["greet", "greet"])))


@pytest.mark.parametrize("config", [{"C": 0}, {"word_ngrams": [2, 1]}, {"char_ngrams": [0, 3]}])
def test_a_bad_config_is_refused(tmp_path, config):
    with pytest.raises(ValueError):
        LinearIntentClassifier.create(
            {**LinearIntentClassifier.get_default_config(), **config}, LocalModelStorage(tmp_path), Resource("m"),
            ExecutionContext(graph_schema=None, node_name="m"),
        )


@pytest.mark.parametrize(
    ("text", "marked"),
    [
        ("It wasn't a coup, it was a revolution.", "it wasn't NEG_a NEG_coup it was a revolution"),
        ("not the fulfilment but the betrayal", "not NEG_the NEG_fulfilment NEG_but NEG_the NEG_betrayal"),
        ("Nobody denies it; cant argue", "nobody NEG_denies NEG_it cant NEG_argue"),
        ("a plain statement", "a plain statement"),
    ],
)
def test_negation_marks_the_words_it_governs_up_to_punctuation(text, marked):
    assert mark_negation(text) == marked


def test_a_negated_statement_is_read_apart_from_the_statement(trained):
    classifier, _, _, tmp_path = trained
    plain, negated = classifier._features(featurised(tmp_path, ["it is sunny", "it isn't sunny"]))
    assert classifier.vectorizers["negated"] is not None
    assert plain.nnz < negated.nnz  # the negated words add features of their own


def test_training_data_without_any_negation_trains_and_loads(tmp_path):
    (tmp_path / "m").mkdir()
    storage, resource = LocalModelStorage(tmp_path / "m"), Resource("m")
    context = ExecutionContext(graph_schema=None, node_name="m")
    classifier = LinearIntentClassifier.create({}, storage, resource, context)
    classifier.train(TrainingData(featurised(tmp_path, ["hi", "hello", "rain today", "sunny today"],
                                             ["greet", "greet", "weather", "weather"])))
    assert classifier.vectorizers["negated"] is None
    loaded = LinearIntentClassifier.load(classifier.component_config, storage, resource, context)
    unseen = featurised(tmp_path, ["hello there", "no rain"])
    np.testing.assert_array_equal(loaded.probabilities(unseen), classifier.probabilities(unseen))
