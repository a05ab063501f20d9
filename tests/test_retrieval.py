"""Claim-aware search: curated answers first, retrieval fills, exclusions respected."""

import numpy as np


def test_curated_passages_rank_first_in_their_order(tutor, knowledge):
    claim = knowledge.claims["claim_inexorable_path"]
    hits = tutor.retriever.search("Stalin just carried on Lenin's work", claim=claim.key, k=len(claim.passages) + 2)
    assert [h.id for h in hits[: len(claim.passages)]] == list(claim.passages)
    assert all(h.curated for h in hits[: len(claim.passages)])
    assert not any(h.curated for h in hits[len(claim.passages):])


def test_a_charge_ranks_before_its_claim(tutor, knowledge):
    hits = tutor.retriever.search("the Cheka", claim="claim_early_authoritarianism", charge="cheka", k=2)
    assert [h.id for h in hits] == list(knowledge.charges["cheka"].passages[:2])


def test_excluded_passages_never_come_back(tutor, knowledge):
    curated = knowledge.claims["claim_october_coup"].passages
    hits = tutor.retriever.search("it was a coup", claim="claim_october_coup", k=4, exclude=set(curated[:2]))
    assert not {h.id for h in hits} & set(curated[:2])
    assert len(hits) == 4


def test_a_paragraph_ending_in_a_colon_brings_its_quotation(tutor):
    hits = tutor.retriever.search("Serge and Mandel regard the establishment of the Cheka as a major mistake", k=2)
    intro = next(h for h in hits if h.passage.text.endswith("Serge writes:"))
    assert intro.follower is not None and "impermissible errors" in intro.follower.text
    assert 35 in [f.number for f in intro.sources]
    assert intro.follower.id not in [h.id for h in hits]


def test_open_search_finds_the_banning_of_parties(tutor, essay):
    hits = tutor.retriever.search("Lenin banned the other parties", k=3)
    assert any("banned all other parties" in h.passage.text for h in hits)
    for hit in hits:
        assert [f.number for f in hit.sources] == list(essay.block(hit.id).footnotes)


def test_sources_carry_full_footnote_text(tutor):
    hits = tutor.retriever.search("revolutionary tribunals in the light of day would have been as efficient", k=3)
    serge = next(h for h in hits if "impermissible errors" in h.passage.text)
    assert [f.number for f in serge.sources] == [35]
    assert serge.sources[0].text.startswith("Victor Serge, Memoirs of a Revolutionary")


def test_a_packed_vector_comes_back_exactly_and_anything_else_is_refused(encoder):
    from bot.search.embeddings import MODEL_NAME, pack, unpack

    vector = encoder.encode_one("Lenin banned the other parties")
    payload = pack(vector)
    assert payload["model"] == MODEL_NAME
    assert np.array_equal(unpack(payload), vector)
    assert unpack(pack(vector, model="another-model")) is None
    assert unpack(pack(vector[:100])) is None
    assert unpack({"model": MODEL_NAME, "float32": "not base64!"}) is None
    assert unpack(pack(np.full(384, np.nan, dtype=np.float32))) is None
    assert unpack(None) is None and unpack("text") is None


def test_a_remembered_vector_is_used_for_that_text(encoder):
    from bot.search.embeddings import Encoder

    fresh = Encoder()
    fresh._model = encoder.model  # the same weights, an empty cache
    vector = np.zeros(384, dtype=np.float32)
    vector[0] = 1.0
    fresh.remember("a text the model never saw", vector)
    assert np.array_equal(fresh.encode_one("a text the model never saw"), vector)


def test_encode_cached_embeds_only_the_texts_it_has_not_seen(encoder):
    from bot.search.embeddings import Encoder

    fresh = Encoder()
    fresh._model = encoder.model
    known = fresh.encode_one("a sentence the student sent before")
    asked: list[list[str]] = []
    plain = fresh.encode
    fresh.encode = lambda texts, batch_size=32: asked.append(list(texts)) or plain(texts, batch_size)
    vectors = fresh.encode_cached(["a sentence the student sent before", "a new pair", "a new pair"])
    assert asked == [["a new pair"]]
    assert np.array_equal(vectors[0], known) and np.array_equal(vectors[1], vectors[2])
    assert np.allclose(vectors[1], encoder.encode_one("a new pair"), atol=1e-5)
