"""The stance reader: training writes only what changed, the folder is verified, the component swaps readings."""

import numpy as np
import pytest
from safetensors.torch import load_file

from bot.nlu.stance import PAIRS, STANCE_DIR, StanceModel, StanceSettings, fit, save, training_hash, training_set
from bot.nlu.stance_reader import STANCE_KEY, StanceReader
from bot.settings import ROOT
from tests.test_nlu_components import CLAIM, CLAIM_SIDE, ESSAY_SIDE, create, read_as

TINY = StanceSettings(layers=1, epochs=3, learning_rate=1e-3, batch=4, max_length=32)
ASSERTS = [CLAIM_SIDE, "Lenin wanted total power from the start.", "He was a dictator at heart.",
           "Lenin craved control over everyone."]
DENIES = [ESSAY_SIDE, "Lenin did not want total power.", "Hello there, how are you?", "What was the NEP?"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A reader trained in seconds on eight sentences: real weights through the real code path."""
    folder = tmp_path_factory.mktemp("stance")
    tensors = fit(ASSERTS + DENIES, [1] * len(ASSERTS) + [0] * len(DENIES), TINY, log=lambda _: None)
    save(tensors, folder, {"name": "tiny", "settings": {"max_length": TINY.max_length}})
    return folder


def test_only_the_top_layers_and_the_head_are_saved_in_float16(tiny):
    tensors = load_file(str(tiny / "model.safetensors"))
    assert {k.split(".")[3] for k in tensors if k.startswith("encoder.")} == {"5"}
    assert {"head.weight", "head.bias"} <= set(tensors)
    assert {str(v.dtype) for v in tensors.values()} == {"torch.float16"}


def test_a_trained_reader_scores_its_training_sentences_apart(tiny):
    scores = StanceModel(tiny).score(ASSERTS + DENIES)
    assert scores.shape == (8,) and ((scores >= 0) & (scores <= 1)).all()
    assert scores[:4].min() > scores[4:].max()


def test_an_altered_weights_file_is_refused_with_the_remedy(tiny, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in tiny.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors is corrupt.*make train-stance"):
        StanceModel(copy).score(["anything"])
    (copy / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="stance reader is missing"):
        StanceModel(copy).check()


def test_a_reader_hashes_its_files_once_however_often_it_is_checked_and_loaded(tiny, monkeypatch):
    import bot.nlu.stance as module

    calls = []
    real = module.check_manifest
    monkeypatch.setattr(module, "check_manifest", lambda *args: calls.append(args[0]) or real(*args))
    model = StanceModel(tiny)
    model.check()
    model.check()
    model.score(["anything"])
    assert calls == [tiny]


@pytest.mark.parametrize(("texts", "labels"), [([], []), (["a", "b"], [1]), (["a", "b"], [1, 1])])
def test_fit_refuses_data_it_cannot_learn_from(texts, labels):
    with pytest.raises(ValueError):
        fit(texts, labels, TINY)


def test_fit_refuses_more_layers_than_the_model_has():
    with pytest.raises(ValueError, match="layers"):
        fit(ASSERTS, [1, 0, 1, 0], StanceSettings(layers=7))


def test_the_training_set_is_data_nlu_and_the_pairs_with_claims_labelled_one():
    texts, labels = training_set()
    nlu_texts, nlu_labels = training_set(sources=[ROOT / "data" / "nlu"])
    pairs_texts, pairs_labels = training_set(sources=[PAIRS])
    assert (texts, labels) == (nlu_texts + pairs_texts, nlu_labels + pairs_labels)
    assert sum(pairs_labels) * 2 == len(pairs_labels) > 0
    assert 0.3 < sum(nlu_labels) / len(nlu_labels) < 0.8


def _reader(folder, threshold, tmp_path):
    return create(StanceReader, {"model": str(folder), "threshold": threshold}, tmp_path)


def test_a_claim_the_reader_says_is_not_asserted_becomes_agreement(tiny, tmp_path):
    score = float(StanceModel(tiny).score([ESSAY_SIDE])[0])
    (message,) = _reader(tiny, min(0.999, score + 1e-3), tmp_path).process([read_as(ESSAY_SIDE, CLAIM, 0.6)])
    assert [(r["name"], r["confidence"]) for r in message.get("intent_ranking")] == [
        ("agree_discontinuity", 0.6), (CLAIM, 0.15), ("out_of_scope", 0.05),
    ]
    assert message.get(STANCE_KEY) == {"claim": CLAIM, "asserts": round(score, 3)}


def test_a_claim_read_as_asserted_and_other_intents_are_left_alone(tiny, tmp_path):
    scores = StanceModel(tiny).score([CLAIM_SIDE, ESSAY_SIDE])
    reader = _reader(tiny, float(np.clip(scores[0] - 1e-3, 0, 0.999)), tmp_path)
    claim, other, empty = reader.process(
        [read_as(CLAIM_SIDE, CLAIM, 0.6), read_as(ESSAY_SIDE, "out_of_scope", 0.6), read_as("", CLAIM, 0.6)],
    )
    assert claim.get("intent") == {"name": CLAIM, "confidence": 0.6} and claim.get(STANCE_KEY) is None
    assert other.get("intent") == {"name": "out_of_scope", "confidence": 0.6}
    assert empty.get("intent") == {"name": CLAIM, "confidence": 0.6}


@pytest.mark.parametrize("config", [{"threshold": 1.0}, {"threshold": -0.1}, {"agreement_intent": ""}], ids=str)
def test_stance_reader_rejects_a_bad_config(tmp_path, config, tiny):
    (key,) = config
    with pytest.raises(ValueError, match=key):
        create(StanceReader, {"model": str(tiny), **config}, tmp_path)


def test_stance_reader_without_its_weights_names_the_remedy(tmp_path):
    with pytest.raises(FileNotFoundError, match="make train-stance"):
        create(StanceReader, {"model": str(tmp_path / "none")}, tmp_path)



def test_the_shipped_reader_is_whole_and_trained_on_the_committed_data():
    """Editing data/nlu or the pairs without `make train-stance` leaves a reader trained on other data."""
    manifest = StanceModel(STANCE_DIR).check()
    texts, labels = training_set()
    assert manifest["data_sha256"] == training_hash(texts, labels), (
        "models/stance-reader/ was trained on other data: run `make train-stance` and commit it"
    )


def test_the_training_hash_sees_a_changed_label_or_text():
    assert training_hash(["a", "b"], [1, 0]) != training_hash(["a", "b"], [0, 1])
    assert training_hash(["a", "b"], [1, 0]) != training_hash(["a", "c"], [1, 0])
