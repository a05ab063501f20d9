"""The readers' shared parts: the swap of two readings, the config check and a warm-up made once."""

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.agreement_reader import AgreementReader, swap_readings
from tests.test_nlu_components import CLAIM, create, read_as


def test_a_swap_keeps_the_margins_the_fallback_reads():
    message = read_as("any text", CLAIM, 0.7, rest=(("agree_discontinuity", 0.2), ("out_of_scope", 0.1)))
    swap_readings(message, CLAIM, "agree_discontinuity")
    assert message.get("intent") == {"name": "agree_discontinuity", "confidence": 0.7}
    assert [(r["name"], r["confidence"]) for r in message.get("intent_ranking")] == [
        ("agree_discontinuity", 0.7), (CLAIM, 0.2), ("out_of_scope", 0.1),
    ]


def test_a_swap_with_an_intent_the_ranking_lacks_adds_it_and_the_claim_drops_to_zero():
    message = read_as("any text", CLAIM, 0.9, rest=(("out_of_scope", 0.1),))
    swap_readings(message, CLAIM, "agree_discontinuity")
    assert message.get("intent")["name"] == "agree_discontinuity"
    assert {r["name"]: r["confidence"] for r in message.get("intent_ranking")} == {
        "agree_discontinuity": 0.9, "out_of_scope": 0.1, CLAIM: 0.0,
    }


class Counting(AgreementReader):
    """A reader whose model is a counter: what the base class does is all that is tested."""

    @staticmethod
    def get_default_config():
        return {"agreement_intent": "agree_discontinuity", "claims_file": None}

    def __init__(self, config):
        self.validate_config(config)
        self.warmed, self.read_batches = 0, []

    def warm(self):
        self.warmed += 1

    def read(self, messages):
        self.read_batches.append(len(messages))


def test_the_model_is_warmed_by_the_first_message_with_text_and_only_then(tmp_path):
    reader = create(Counting, {}, tmp_path)
    assert reader.process([Message(data={})]) and reader.warmed == 0
    reader.process([read_as("first", CLAIM, 0.9)])
    reader.process([read_as("second", CLAIM, 0.9)])
    assert reader.warmed == 1
    assert reader.read_batches == [1, 1, 1]


def test_a_reader_without_an_agreement_intent_is_refused(tmp_path):
    with pytest.raises(ValueError, match="agreement_intent"):
        create(Counting, {"agreement_intent": ""}, tmp_path)
