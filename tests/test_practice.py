"""Practice rounds, through the actions, with the real matcher and knowledge."""

from __future__ import annotations

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions import actions
from bot.settings import ROOT
from tests.contract import run, tracker


@pytest.fixture(scope="module")
def domain():
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def score(domain, claim, answer):
    messages, slots = run(actions.ActionScorePractice, tracker("done", "finish_answer", practice_claim=claim,
                                                               practice_answer=answer), domain)
    return {m["response"]: m for m in messages}, slots


def test_a_round_starts_on_a_point_not_yet_practised(domain, knowledge):
    history = [{"claim": "claim_authoritarian_personality", "mode": "defend", "score": 1, "total": 5}]
    messages, slots = run(actions.ActionStartPractice, tracker("quiz me", "start_practice", practice_history=history), domain)
    assert slots["practice_claim"] == "claim_party_instrument"
    assert messages[0]["opponent"] == knowledge.claims["claim_party_instrument"].opponent
    assert slots["practice_answer"] == []


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [("test me on point 3", None, "claim_october_coup"), ("again", "claim_will_repeat", "claim_will_repeat"),
     ("quiz me", "kronstadt", "kronstadt")],
)
def test_a_named_point_is_practised(domain, text, target, expected):
    _, slots = run(actions.ActionStartPractice, tracker(text, "start_practice", practice_target=target), domain)
    assert slots["practice_claim"] == expected


def test_a_good_rebuttal_scores_its_points_and_quotes_the_students_words(domain, knowledge):
    answer = [
        "Lenin chose a life of prison, exile and isolation, which makes no sense if he was just after power.",
        "And people around him didn't simply defer to him, they outvoted him on Brest-Litovsk, "
        "so they'd have stopped a would-be dictator.",
    ]
    replies, slots = score(domain, "claim_authoritarian_personality", answer)
    result = slots["practice_result"]
    assert result["mode"] == "defend" and result["total"] == len(knowledge.claims["claim_authoritarian_personality"].key_points)
    assert result["score"] >= 2 and {"ap-1", "ap-2"} <= set(result["made"])
    assert "prison, exile and isolation" in replies["utter_practice_made"]["lines"]
    assert "The essay (" in replies["utter_practice_missed"]["lines"]
    (move,) = [m for name, m in replies.items() if name.startswith("utter_practice_suggestion")]
    assert move["number"] >= 1 and move["number"] <= len(result["missed"])
    assert not any(kp.text in str(move.get("sentence")) for kp in knowledge.claims["claim_authoritarian_personality"].key_points)
    assert replies["utter_practice_next"]["retry"] == "claim_authoritarian_personality"
    assert slots["practice_history"] == [result]


def test_a_weak_rebuttal_scores_less(domain):
    _, slots = score(domain, "claim_authoritarian_personality", ["I just don't think that's true, Lenin was nice."])
    assert slots["practice_result"]["score"] <= 1


def test_an_empty_answer_scores_zero_kindly(domain):
    replies, slots = score(domain, "claim_october_coup", [])
    assert "utter_practice_empty" in replies and slots["practice_result"]["score"] == 0


def test_an_off_topic_answer_scores_zero_kindly(domain):
    replies, slots = score(domain, "claim_october_coup", ["My favourite football team is Arsenal and I like pizza."])
    assert "utter_practice_off_topic" in replies and slots["practice_result"]["score"] == 0


def test_a_copy_of_the_essay_earns_nothing(domain, tutor, knowledge):
    passage = tutor.retriever.index.get(knowledge.claims["claim_authoritarian_personality"].passages[0]).text
    replies, slots = score(domain, "claim_authoritarian_personality", [passage])
    assert "utter_practice_copied" in replies
    assert slots["practice_result"]["score"] == 0 and slots["practice_result"]["copied"]


def test_the_form_collects_messages_until_done(domain):
    form = actions.ValidatePracticeForm()
    state = tracker("the party was democratic", "claim_party_instrument", practice_answer=["first part"])
    import asyncio

    extracted = asyncio.run(form.extract_practice_done(CollectingDispatcher(), state, domain))
    assert extracted == {"practice_answer": ["first part", "the party was democratic"]}
    done = asyncio.run(form.extract_practice_done(CollectingDispatcher(), tracker("done", "finish_answer"), domain))
    assert done == {"practice_done": True}
    opening = asyncio.run(form.extract_practice_done(CollectingDispatcher(), tracker("quiz me", "start_practice"), domain))
    assert opening == {}


def test_prosecution_summary_names_the_points_raised_and_left_out(domain):
    state = tracker("done", "finish_answer", practice_mode="prosecute",
                    prosecution_raised=["claim_october_coup", "claim_human_nature"])
    messages, slots = run(actions.ActionEndProsecution, state, domain)
    assert messages[0]["raised_count"] == 1
    assert "point 3" in messages[0]["raised"] and "point 1" in messages[0]["missing"]
    assert slots["practice_mode"] is None and slots["practice_result"]["mode"] == "prosecute"


def test_progress_shows_the_best_score_per_point(domain):
    history = [
        {"claim": "claim_october_coup", "mode": "defend", "score": 1, "total": 5},
        {"claim": "claim_october_coup", "mode": "defend", "score": 3, "total": 5},
        {"mode": "prosecute", "raised": ["claim_october_coup"], "missed_points": []},
    ]
    messages, _ = run(actions.ActionShowProgress, tracker("how am I doing", "ask_progress", practice_history=history), domain)
    assert messages[0]["response"] == "utter_progress_one" and messages[0]["count"] == 1
    assert "best 3 of 5 (2 attempts)" in messages[0]["lines"]
    none, _ = run(actions.ActionShowProgress, tracker("how am I doing", "ask_progress"), domain)
    assert none[0]["response"] == "utter_progress_none"


class CountingEncoder:
    """The real encoder, counting the texts it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.texts = 0

    def encode(self, texts, batch_size: int = 32):
        self.texts += len(texts)
        return self.inner.encode(texts, batch_size)

    def encode_one(self, text):
        self.texts += 1
        return self.inner.encode([text])[0]


@pytest.mark.slow  # warms every key point's evidence
def test_warming_computes_every_points_evidence_so_a_round_embeds_only_the_answer(tutor, knowledge, tmp_path):
    from bot.scoring.matcher import Matcher, Scoring
    from bot.search.retrieval import Retriever
    from bot.tutoring.practice import Practice
    from bot.tutoring.tutor import Tutor

    counting = CountingEncoder(tutor.retriever.encoder)
    cosine = Matcher(counting, Scoring(threshold=0.64))  # the zero-shot matcher, at its own calibrated threshold
    practice = Practice(Tutor(Retriever(tutor.retriever.index, tutor.essay, knowledge, counting)), cosine,
                        evidence_cache=tmp_path / "evidence.json")
    assert practice.warm() == sum(len(c.key_points) for c in knowledge.claims.values())
    before = counting.texts
    position = next(c for c in knowledge.claims.values() if c.key_points)
    feedback = practice.assess(position, ["Lenin chose prison and exile.", "Nobody seeking power would."])
    assert feedback.missed and all(evidence is not None for _, evidence in feedback.missed)
    assert counting.texts - before <= 3  # the two sentences and their pair: nothing of the essay again


class CountingJudge:
    """The cosine of the real encoder as a pair judge, counting the pairs it reads."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.pairs = 0

    def score(self, pairs):
        import numpy as np

        self.pairs += len(pairs)
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        a = self.encoder.encode([p[0] for p in pairs])
        b = self.encoder.encode([p[1] for p in pairs])
        return np.clip((a * b).sum(axis=1), 0.0, 1.0)

    def fingerprint(self) -> str:
        return "cosine-as-judge"


class MemoEncoder:
    """The real encoder, embedding each distinct text once (the test warms three times)."""

    def __init__(self, inner) -> None:
        from bot.scoring.calibrate import Memo

        self.memo = Memo(inner)

    def encode(self, texts, batch_size: int = 32):
        return self.memo.encode(list(texts))

    def encode_one(self, text):
        return self.memo.encode([text])[0]


def test_the_evidence_is_kept_between_starts_and_chosen_again_when_what_it_rests_on_changes(tutor, knowledge, tmp_path):
    import dataclasses

    from bot.scoring.matcher import Matcher, Scoring
    from bot.search.retrieval import Retriever
    from bot.tutoring.practice import Practice
    from bot.tutoring.tutor import Tutor

    claim = knowledge.claims["claim_october_coup"]
    one_claim = dataclasses.replace(knowledge, claims={claim.key: claim}, charges={}, charge_claim=None)
    encoder = MemoEncoder(tutor.retriever.encoder)
    small = Tutor(Retriever(tutor.retriever.index, tutor.essay, one_claim, encoder))
    cache = tmp_path / "evidence.json"
    judge = CountingJudge(encoder)

    def started(threshold: float = 0.5) -> Practice:
        practice = Practice(small, Matcher(encoder, Scoring(threshold=threshold), judge=judge, shortlist=2),
                            evidence_cache=cache)
        practice.warm()
        return practice

    first = started()
    chosen = judge.pairs
    assert chosen > 0 and cache.is_file()
    second = started()
    assert judge.pairs - chosen < chosen / 4  # the warm-up's own few pairs, not the essay's sentences again
    assert [second.evidence(claim, p) for p in claim.key_points] == [first.evidence(claim, p) for p in claim.key_points]
    assert any(first.evidence(claim, p) is not None for p in claim.key_points)

    key = cache.read_text(encoding="utf-8")
    before = judge.pairs
    started(threshold=0.6)  # another threshold: the evidence is chosen again
    assert judge.pairs - before > chosen / 2 and cache.read_text(encoding="utf-8") != key

    cache.write_text("{not json", encoding="utf-8")
    before = judge.pairs
    again = started()
    assert judge.pairs - before > chosen / 2
    assert [again.evidence(claim, p) for p in claim.key_points] == [first.evidence(claim, p) for p in claim.key_points]


@pytest.mark.xfail(strict=True, reason="known regression of the shipped judge: oc-2 scores 0.25 against the core"
                   " claims' threshold 0.78 (the previous judge 0.83); docs/matcher.md. Strict: it fails loudly once fixed")
def test_the_trial_from_the_issue_gets_credit_for_both_points_it_makes(domain, knowledge):
    """'quiz me on point 3', then a two-sentence rebuttal: the soviet majority and mass support."""
    answer = ["The October revolution was not a coup because the Bolsheviks had a majority in the soviets. "
              "Workers in Petrograd and Moscow supported them, there was a mass movement."]
    replies, slots = score(domain, "claim_october_coup", answer)
    result = slots["practice_result"]
    assert {"oc-1", "oc-2"} <= set(result["made"])
    missed = replies.get("utter_practice_missed", {}).get("lines", "")
    for point in knowledge.claims["claim_october_coup"].key_points:
        if point.id in ("oc-1", "oc-2"):
            assert point.text not in missed


def test_a_missed_points_essay_sentence_is_one_the_judge_says_makes_it(tutor, knowledge):
    from bot.tutoring.practice import shared_practice

    practice = shared_practice()
    position = knowledge.claims["claim_october_coup"]
    for point in position.key_points:
        evidence = practice.evidence(position, point)
        if evidence is not None:
            (score,) = practice.matcher.judge.score([(evidence.sentence, point.text)])
            assert score >= practice.scoring.threshold, (point.id, evidence.sentence)
            assert evidence.sources


def test_plurals_are_right_in_the_progress_lines(domain):
    history = [{"claim": "claim_october_coup", "mode": "defend", "score": 2, "total": 5},
               {"claim": "claim_party_instrument", "mode": "defend", "score": 1, "total": 5},
               {"claim": "claim_party_instrument", "mode": "defend", "score": 4, "total": 5}]
    messages, _ = run(actions.ActionShowProgress, tracker("how am I doing", "ask_progress", practice_history=history), domain)
    assert messages[0]["response"] == "utter_progress" and messages[0]["count"] == 2
    assert "(1 attempt)" in messages[0]["lines"] and "(2 attempts)" in messages[0]["lines"]
    assert "(s)" not in messages[0]["lines"]


@pytest.mark.parametrize("precision", ["bfloat16", "float32"])
def test_the_scorers_embeddings_compute_as_its_judge_does(tutor, monkeypatch, precision):
    import bot.scoring.judge
    from bot.search.embeddings import Bfloat16View
    from bot.tutoring.practice import Practice

    monkeypatch.setattr(bot.scoring.judge, "shared_judge", lambda: bot.scoring.judge.Judge(precision=precision))
    practice = Practice(tutor, evidence_cache=None)
    assert practice.matcher.judge.precision == precision
    assert isinstance(practice.matcher.encoder, Bfloat16View) == (precision == "bfloat16")


def test_an_answer_is_judged_at_its_positions_groups_threshold(domain, knowledge, monkeypatch):
    """The same answer loses its points when its group's threshold is out of reach, and only then."""
    from dataclasses import replace

    from bot.tutoring.practice import shared_practice

    practice = shared_practice()
    answer = ["Lenin chose a life of prison, exile and isolation, which makes no sense if he was just after power."]
    group = knowledge.claims["claim_authoritarian_personality"].group
    other = "core" if group != "core" else "essay-positions"
    monkeypatch.setattr(practice, "scoring", replace(practice.scoring, group_thresholds={other: 1.01}))
    assert score(domain, "claim_authoritarian_personality", answer)[1]["practice_result"]["score"] >= 1
    monkeypatch.setattr(practice, "scoring", replace(practice.scoring, group_thresholds={group: 1.01}))
    assert score(domain, "claim_authoritarian_personality", answer)[1]["practice_result"]["score"] == 0
