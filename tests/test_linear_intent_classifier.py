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

from bot.nlu.linear_intent_classifier import LinearIntentClassifier, mark_negation, split_labels
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


def trained_on(tmp_path_factory, name, training, config):
    """A classifier trained on ``training`` (intent -> phrasings), with its storage, resource and folder."""
    tmp_path = tmp_path_factory.mktemp(name)
    texts = [t for ts in training.values() for t in ts]
    intents = [i for i, ts in training.items() for _ in ts]
    (tmp_path / "model").mkdir()
    storage, resource = LocalModelStorage(tmp_path / "model"), Resource(name)
    classifier = LinearIntentClassifier.create(
        config, storage, resource, ExecutionContext(graph_schema=None, node_name=name),
    )
    classifier.train(TrainingData(featurised(tmp_path, texts, intents)))
    return classifier, storage, resource, tmp_path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_on(tmp_path_factory, "linear", TRAINING, {"ranking_length": 2})


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


@pytest.mark.parametrize("config", [
    {"C": 0}, {"word_ngrams": [2, 1]}, {"char_ngrams": [0, 3]}, {"split_intents": "deny"},
    {"split_intents": ["deny@topic_food"]}, {"intent_odds": {"deny": 0}}, {"intent_odds": ["deny"]},
    {"negation_frames": ["Myth"]}, {"negation_frames": "myth"},
])
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


def test_a_frame_word_opens_a_negated_stretch_only_when_configured():
    text = "It's a myth that October was a coup. Still"
    assert mark_negation(text) == "it's a myth that october was a coup still"
    assert mark_negation(text, frozenset({"myth"})) == "it's a myth NEG_that NEG_october NEG_was NEG_a NEG_coup still"


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


def test_a_split_intent_is_labelled_by_the_class_whose_mean_vector_is_nearest():
    sentences = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.8, 0.2], [0.2, 0.8]])
    sentences /= np.linalg.norm(sentences, axis=1, keepdims=True)
    labels = ["topic_a", "topic_a", "topic_b", "topic_b", "deny", "deny"]
    assert split_labels(labels, sentences, ["deny"], "topic_") == [
        "topic_a", "topic_a", "topic_b", "topic_b", "deny@topic_a", "deny@topic_b"]
    assert split_labels(labels, sentences, [], "topic_") == labels
    assert split_labels(labels, sentences, ["deny"], "claim_") == labels  # nothing to split towards


SPLIT = {
    "topic_weather": ["will it rain tomorrow", "it is going to be sunny", "the forecast says snow", "it's cold today"],
    "topic_food": ["pasta is the best dinner", "I want bread for lunch", "rice goes with everything", "soup tonight"],
    "deny": ["it won't rain tomorrow", "it isn't going to be sunny", "no snow is coming", "pasta is not the best dinner",
             "I don't want bread", "rice doesn't go with everything"],
}


@pytest.fixture(scope="module")
def split_trained(tmp_path_factory):
    return trained_on(tmp_path_factory, "split", SPLIT, {"split_intents": ["deny"], "split_towards": "topic_"})


def test_a_split_intent_is_trained_as_sub_classes_and_predicted_as_one(split_trained):
    classifier, _, _, tmp_path = split_trained
    assert sorted(classifier.classes) == ["deny@topic_food", "deny@topic_weather", "topic_food", "topic_weather"]
    assert sorted(classifier.intents) == ["deny", "topic_food", "topic_weather"]
    messages = classifier.process(featurised(tmp_path, ["it won't snow tomorrow", "will it snow tomorrow"]))
    for message in messages:
        names = [r["name"] for r in message.get("intent_ranking")]
        assert sorted(names) == ["deny", "topic_food", "topic_weather"]
        assert sum(r["confidence"] for r in message.get("intent_ranking")) == pytest.approx(1.0)
    assert [m.get(INTENT)["name"] for m in messages] == ["deny", "topic_weather"]


def test_a_split_intents_probability_is_the_sum_of_its_sub_classes(split_trained):
    classifier, storage, resource, tmp_path = split_trained
    unseen = featurised(tmp_path, ["no rain today", "bread for dinner"])
    logits = np.asarray(classifier._features(unseen) @ classifier.coef.T + classifier.intercept, dtype=np.float64)
    per_class = np.exp(logits - logits.max(axis=1, keepdims=True))
    per_class /= per_class.sum(axis=1, keepdims=True)
    merged = classifier.probabilities(unseen)
    deny = classifier.intents.index("deny")
    subs = [i for i, c in enumerate(classifier.classes) if c.startswith("deny@")]
    np.testing.assert_allclose(merged[:, deny], per_class[:, subs].sum(axis=1))
    loaded = LinearIntentClassifier.load(
        classifier.component_config, storage, resource, ExecutionContext(graph_schema=None, node_name="split"),
    )
    np.testing.assert_array_equal(loaded.probabilities(unseen), merged)


def test_training_again_predicts_the_new_intents_even_when_two_are_left(tmp_path_factory):
    classifier, _, _, tmp_path = trained_on(
        tmp_path_factory, "again", SPLIT, {"split_intents": ["deny"], "split_towards": "topic_"})
    unseen = featurised(tmp_path, ["no rain today"])
    assert classifier.probabilities(unseen).shape == (1, 3)
    fewer = {name: texts for name, texts in SPLIT.items() if name != "topic_food"}
    texts = [t for ts in fewer.values() for t in ts]
    classifier.train(TrainingData(featurised(tmp_path, texts, [i for i, ts in fewer.items() for _ in ts])))
    assert sorted(classifier.intents) == ["deny", "topic_weather"]
    assert classifier.probabilities(unseen).shape == (1, 2)
    assert classifier.probabilities(unseen).sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("fixture", "texts", "moved", "other", "odds"),
    [("split_trained", ["no rain today", "bread for dinner"], "deny", "topic_food", 0.5),
     ("trained", list(UNSEEN.values()), "greet", "food", 2.0)],
    ids=["split", "unsplit"],
)
def test_intent_odds_move_an_intent_against_the_others(request, fixture, texts, moved, other, odds):
    classifier, storage, resource, tmp_path = request.getfixturevalue(fixture)
    unseen = featurised(tmp_path, texts)
    even = classifier.probabilities(unseen)
    shifted = LinearIntentClassifier.load(
        {**classifier.component_config, "intent_odds": {moved: odds}}, storage, resource,
        ExecutionContext(graph_schema=None, node_name=fixture),
    ).probabilities(unseen)
    i, j = classifier.intents.index(moved), classifier.intents.index(other)
    np.testing.assert_allclose(shifted.sum(axis=1), 1.0)
    np.testing.assert_allclose(shifted[:, i] / shifted[:, j], odds * even[:, i] / even[:, j], rtol=1e-6)
    assert ((shifted[:, i] > even[:, i]) == (odds > 1)).all()
