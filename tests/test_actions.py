"""The actions, each run on a rasa_sdk Tracker with a CollectingDispatcher."""

from __future__ import annotations

import pytest
import yaml

from actions import actions
from bot.settings import ROOT
from tests.contract import run, tracker


@pytest.fixture(scope="module")
def domain():
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def responses(messages):
    return [m.get("response") for m in messages]


def test_rebut_names_the_point_and_quotes_a_curated_passage(domain, knowledge):
    state = tracker("Lenin was a power-hungry dictator from the start", "claim_authoritarian_personality")
    messages, slots = run(actions.ActionRebutClaim, state, domain)
    assert responses(messages) == ["utter_claim_point", "utter_rebuttal"]
    assert messages[0]["point"] == 1
    claim = knowledge.claims["claim_authoritarian_personality"]
    assert slots["last_passages"][0] in claim.passages
    assert messages[1]["lead"] in {kp.text for kp in claim.key_points}
    assert messages[1]["quote"].startswith("> ") and len(messages[1]["quote"].split()) <= 152
    assert messages[1]["sources"].startswith("- John Molyneux, 'Does Leninism lead to Stalinism?', section")
    assert slots["raised_points"] == ["claim_authoritarian_personality"]
    assert slots["last_claim"] == "claim_authoritarian_personality"


def test_rebut_a_charge_answers_that_charge(domain, knowledge):
    entity = {"entity": "charge", "value": "cheka", "start": 0, "end": 5}
    state = tracker("The Cheka proves it", "claim_early_authoritarianism", [entity])
    messages, slots = run(actions.ActionRebutClaim, state, domain)
    assert responses(messages) == ["utter_claim_charge", "utter_rebuttal"]
    assert slots["last_passages"][0] in knowledge.charges["cheka"].passages
    assert slots["last_charge"] == "cheka"


def test_rebut_skips_a_passage_already_shown(domain, knowledge):
    first = knowledge.claims["claim_party_instrument"].passages[0]
    state = tracker("the party was Lenin's tool", "claim_party_instrument", shown_passages=[first])
    _, slots = run(actions.ActionRebutClaim, state, domain)
    assert slots["last_passages"][0] != first
    assert slots["last_passages"][0] in knowledge.claims["claim_party_instrument"].passages


def test_tell_more_never_repeats(domain):
    shown: list[str] = []
    for _ in range(4):
        state = tracker(
            "tell me more", "tell_more", last_claim="claim_october_coup",
            last_query="it was a coup", shown_passages=list(shown),
        )
        messages, slots = run(actions.ActionTellMore, state, domain)
        assert responses(messages)[0] in ("utter_more", "utter_more_plain")
        new = slots["last_passages"]
        assert new and not set(new) & set(shown)
        shown = slots["shown_passages"]


def test_tell_more_with_nothing_discussed(domain):
    messages, _ = run(actions.ActionTellMore, tracker("more", "tell_more"), domain)
    assert responses(messages) == ["utter_nothing_yet"]


def test_sources_give_full_citations_of_the_last_answer(domain, essay):
    passage = next(b for b in essay.blocks if 19 in b.footnotes)
    messages, _ = run(actions.ActionShowSources, tracker("sources", "ask_sources", last_passages=[passage.id]), domain)
    assert responses(messages) == ["utter_sources"]
    assert "https://www.marxists.org/archive/lenin/works/1917/nov/06a.htm" in messages[0]["sources"]


def test_six_points_mark_what_the_student_raised(domain):
    state = tracker("six points?", "ask_six_points", raised_points=["claim_october_coup", "claim_human_nature"])
    messages, _ = run(actions.ActionNarrative, state, domain)
    points = messages[0]["points"].splitlines()
    assert len(points) == 6
    assert [p.endswith("✓") for p in points] == [False, False, True, False, False, False]
    assert "1 of 6" in messages[0]["progress"]


def test_a_question_gets_the_focused_passage_with_sources(domain):
    messages, slots = run(actions.ActionAnswerQuestion, tracker("what was NEP?", "ask_essay_question"), domain)
    assert responses(messages)[0].startswith("utter_essay_answer")
    assert "NEP" in messages[0]["quote"] and len(messages[0]["quote"].split()) <= 152
    assert messages[0]["sources"].startswith("- John Molyneux")
    assert slots["last_passages"]


def test_a_question_naming_someone_is_answered_from_a_passage_that_names_them(domain, tutor):
    messages, slots = run(actions.ActionAnswerQuestion, tracker("Who was Victor Serge?", "ask_essay_question"), domain)
    assert "Serge" in tutor.retriever.index.get(slots["last_passages"][0]).text
    assert "Serge" in messages[0]["quote"]


def test_the_whole_passage_follows_a_focused_answer(domain, knowledge, tutor):
    state = tracker("it was a coup", "claim_october_coup")
    messages, slots = run(actions.ActionRebutClaim, state, domain)
    focused = messages[1]["quote"]
    whole, _ = run(actions.ActionReadPassage, tracker("read the whole passage", "read_passage",
                                                       last_passages=slots["last_passages"]), domain)
    assert responses(whole) == ["utter_whole_passage"]
    passage = tutor.retriever.index.get(slots["last_passages"][0]).text
    assert passage.split("\n")[0] in whole[0]["quote"] and len(whole[0]["quote"]) >= len(focused) - 20
    nothing, _ = run(actions.ActionReadPassage, tracker("read the whole passage", "read_passage"), domain)
    assert responses(nothing) == ["utter_nothing_yet"]


def test_clarify_offers_the_two_close_claims_as_buttons(domain):
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.5},
        {"name": "claim_inexorable_path", "confidence": 0.41},
        {"name": "claim_early_authoritarianism", "confidence": 0.38},
        {"name": "greet", "confidence": 0.05},
    ]
    messages, _ = run(actions.ActionClarifyClaim, tracker("hmm lenin stalin same", "nlu_fallback", ranking=ranking), domain)
    assert responses(messages) == ["utter_which_claim"]
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/claim_inexorable_path", "/claim_early_authoritarianism"]


def test_clarify_without_claim_candidates_brings_the_student_back(domain):
    ranking = [{"name": "nlu_fallback", "confidence": 0.5}, {"name": "greet", "confidence": 0.3}]
    messages, _ = run(actions.ActionClarifyClaim, tracker("asdf", "nlu_fallback", ranking=ranking), domain)
    assert responses(messages) == ["utter_default"]


def test_argue_continuity_picks_a_point_not_yet_raised(domain):
    state = tracker("yes", "affirm", raised_points=["claim_authoritarian_personality"])
    messages, slots = run(actions.ActionArgueThesis, state, domain)
    assert responses(messages) == ["utter_opponent"]
    assert messages[0]["point"] == 2
    assert slots["last_claim"] == "claim_party_instrument"


def test_a_button_payload_is_answered_like_the_claim_it_names(domain, knowledge):
    state = tracker("/claim_leninist_regimes", "claim_leninist_regimes")
    messages, slots = run(actions.ActionRebutClaim, state, domain)
    assert responses(messages) == ["utter_claim_point", "utter_rebuttal"]
    assert slots["last_passages"][0] in knowledge.claims["claim_leninist_regimes"].passages


def test_a_non_claim_intent_never_gets_a_rebuttal(domain):
    messages, slots = run(actions.ActionRebutClaim, tracker("hello", "greet"), domain)
    assert responses(messages) == ["utter_default"] and slots == {}


def test_an_unclear_message_naming_a_charge_is_answered_as_that_charge(domain, knowledge):
    entity = {"entity": "charge", "value": "faction_ban", "start": 4, "end": 12}
    ranking = [{"name": "nlu_fallback", "confidence": 0.3}, {"name": "claim_inexorable_path", "confidence": 0.28}]
    state = tracker("the faction ban was Lenin's", "nlu_fallback", [entity], ranking=ranking)
    messages, slots = run(actions.ActionClarifyClaim, state, domain)
    assert responses(messages) == ["utter_claim_charge", "utter_rebuttal"]
    assert slots["last_passages"][0] in knowledge.charges["faction_ban"].passages
    assert slots["last_claim"] == knowledge.charge_claim


def test_agreement_names_the_essays_answer_the_student_made(domain, knowledge):
    made = {"counter_argument": {"claim": "claim_october_coup", "key_point": "oc-2", "score": 0.97}}
    state = tracker("how was it a coup when the soviets voted for it?", "agree_discontinuity", parsed=made)
    messages, _ = run(actions.ActionAgree, state, domain)
    assert responses(messages) == ["utter_agree_point"]
    claim = knowledge.claims["claim_october_coup"]
    assert messages[0]["title"] == claim.title
    assert messages[0]["point"] == next(kp.text for kp in claim.key_points if kp.id == "oc-2")


@pytest.mark.parametrize(
    "parsed",
    [None, {"counter_argument": {"claim": "claim_october_coup", "key_point": "zz-9"}}, {"counter_argument": "junk"}],
    ids=["plain agreement", "unknown key point", "malformed"],
)
def test_agreement_without_a_known_answer_gets_the_plain_welcome(domain, parsed):
    state = tracker("stalinism was a counter-revolution", "agree_discontinuity", parsed=parsed)
    messages, _ = run(actions.ActionAgree, state, domain)
    assert responses(messages) == ["utter_agree"]
