"""The sentence encoder: one sentence through the traced graph is the model's own vector."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bot.search.embeddings import Bfloat16View, Encoder, _trace_single, pack, unpack

SENTENCES = [
    "Lenin was a dictator from day one",
    "x",
    "what did Serge think of the Cheka, and was Kronstadt the turning point of the revolution?",
    "word " * 400,  # longer than the model reads: truncated the same way
]


@pytest.fixture(scope="module")
def eager(encoder) -> Encoder:
    copy = Encoder()
    copy._model = encoder.model
    copy._traced = False
    return copy


def test_single_sentences_use_the_traced_graph(encoder):
    import torch

    assert isinstance(encoder._single_sentence_graph(), torch.jit.ScriptModule)


@pytest.mark.parametrize("text", SENTENCES)
def test_the_traced_vector_is_the_eager_and_the_batched_vector(encoder, eager, text):
    traced = encoder._encode_single(text)
    assert traced.dtype == np.float32 and traced.shape == (encoder.dimension,)
    assert np.allclose(traced, eager._encode_single(text), atol=1e-6)
    assert np.allclose(traced, encoder.encode([text, "another sentence"])[0], atol=1e-6)
    assert np.linalg.norm(traced) == pytest.approx(1.0, abs=1e-5)


def test_a_model_the_tracer_does_not_know_stays_eager(encoder):
    class Other:  # not mean pooling over a transformer: no trace, the eager model is used
        def __len__(self) -> int:
            return 2

        def __getitem__(self, index: int) -> object:
            return object()

    assert _trace_single(Other()) is False


def test_threads_encoding_at_once_get_their_own_vectors(encoder, eager):
    texts = [f"claim number {i}: the party replaced the class" for i in range(16)]
    results: dict[str, np.ndarray] = {}

    def work(text: str) -> None:
        results[text] = encoder._encode_single(text)

    threads = [threading.Thread(target=work, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for text in texts:
        assert np.allclose(results[text], eager._encode_single(text), atol=1e-6)


def test_a_packed_vector_comes_back_exactly_and_a_foreign_one_does_not(encoder):
    vector = encoder.encode_one("the Constituent Assembly was dissolved")
    assert np.array_equal(unpack(pack(vector)), vector)
    assert unpack(pack(vector, model="another-model")) is None
    assert unpack({"model": encoder.name, "float32": "bm90IGEgdmVjdG9y"}) is None


def test_a_few_texts_in_small_batches_get_the_vectors_of_one_batch(encoder):
    texts = [s for s in SENTENCES if s != "x"] + ["a short one", "and a second, rather longer, sentence to pad against"]
    one_batch = encoder.model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    assert np.allclose(encoder.encode(texts), one_batch, atol=1e-5)
    many = texts * 6  # more than a handful: the caller's batch size again
    assert np.allclose(encoder.encode(many)[: len(texts)], encoder.encode(texts), atol=1e-5)


def test_the_bfloat16_view_computes_in_bfloat16_and_stays_close(encoder):
    texts = SENTENCES[:3]
    exact, fast = encoder.encode(texts), Bfloat16View(encoder).encode(texts)
    assert fast.dtype == np.float32 and fast.shape == exact.shape
    assert not np.array_equal(exact, fast)
    assert (np.sum(exact * fast, axis=1) > 0.999).all()
    assert np.allclose(Bfloat16View(encoder).encode_cached(texts), fast, atol=1e-6)
