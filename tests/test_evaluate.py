"""make eval's figures: computed as defined, and read from held-out sets that training never sees."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.essay.knowledge import load_knowledge
from bot.settings import ROOT
from bot.tools.evaluate import (
    BLIND,
    FIFTH,
    FRESH,
    HELD_OUT,
    POLARITY,
    Example,
    Prediction,
    figures_text,
    load_examples,
    metrics,
)


def _normalised(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def test_claim_accuracy_and_rejection_count_as_defined():
    examples = [
        Example("a", "claim_one", ()), Example("b", "claim_one", ()), Example("c", "claim_two", ()),
        Example("d", "agree_discontinuity", ()), Example("e", "out_of_scope", ()),
    ]
    predictions = [
        Prediction("claim_one", 0.9, ()), Prediction("claim_two", 0.6, ()), Prediction("claim_two", 0.8, ()),
        Prediction("claim_one", 0.7, ()), Prediction("greet", 0.5, ()),
    ]
    result = metrics(examples, predictions, None)
    assert result["claim_accuracy"] == 2 / 3
    assert result["non_claim_rejection"] == 1 / 2  # a non-claim read as another intent that is no claim still counts
    assert result["intent_accuracy"] == 2 / 5
    assert [e["text"] for e in result["errors"]] == ["b", "d", "e"]


def test_the_polarity_set_is_printed_beside_the_first_and_both_together():
    examples = [Example("a", "claim_one", ()), Example("b", "agree_discontinuity", ())]
    first = metrics(examples, [Prediction("claim_one", 1.0, ()), Prediction("claim_one", 1.0, ())], None)
    first["polarity"] = metrics(examples, [Prediction("claim_one", 1.0, ()), Prediction("deny", 1.0, ())], None)
    first["both"] = {"examples": 4, "intent_accuracy": 0.75, "claim_accuracy": 1.0, "non_claim_rejection": 0.5}
    text = figures_text(first)
    assert re.search(r"held-out\s+2\s+0\.500\s+1\.000\s+0\.000", text)
    assert re.search(r"polarity held-out\s+2\s+0\.500\s+1\.000\s+1\.000", text)
    assert re.search(r"both\s+4\s+0\.750\s+1\.000\s+0\.500", text)
    assert "blind" not in text


def test_the_blind_set_is_printed_with_all_three_together():
    examples = [Example("a", "claim_one", ()), Example("b", "agree_discontinuity", ())]
    first = metrics(examples, [Prediction("claim_one", 1.0, ()), Prediction("claim_one", 1.0, ())], None)
    first["polarity"] = first["blind"] = metrics(examples, [Prediction("x", 1.0, ()), Prediction("y", 1.0, ())], None)
    first["both"] = {"examples": 4, "intent_accuracy": 0.5, "claim_accuracy": 0.5, "non_claim_rejection": 0.5}
    first["all"] = {"examples": 6, "intent_accuracy": 0.5, "claim_accuracy": 1 / 3, "non_claim_rejection": 2 / 3}
    text = figures_text(first)
    assert re.search(r"blind held-out\s+2\s+0\.000\s+0\.000\s+1\.000", text)
    assert re.search(r"all three\s+6\s+0\.500\s+0\.333\s+0\.667", text)
    assert "fresh" not in text


def test_the_fresh_set_is_printed_with_all_four_together():
    examples = [Example("a", "claim_one", ()), Example("b", "agree_discontinuity", ())]
    first = metrics(examples, [Prediction("claim_one", 1.0, ()), Prediction("claim_one", 1.0, ())], None)
    first["polarity"] = first["blind"] = metrics(examples, [Prediction("x", 1.0, ()), Prediction("y", 1.0, ())], None)
    first["fresh"] = metrics(examples, [Prediction("claim_one", 1.0, ()), Prediction("y", 1.0, ())], None)
    first["both"] = {"examples": 4, "intent_accuracy": 0.5, "claim_accuracy": 0.5, "non_claim_rejection": 0.5}
    first["all"] = {"examples": 6, "intent_accuracy": 0.5, "claim_accuracy": 1 / 3, "non_claim_rejection": 2 / 3}
    first["all_four"] = {"examples": 8, "intent_accuracy": 0.625, "claim_accuracy": 0.5, "non_claim_rejection": 0.75}
    text = figures_text(first)
    assert re.search(r"fresh held-out\s+2\s+0\.500\s+1\.000\s+1\.000", text)
    assert re.search(r"all four\s+8\s+0\.625\s+0\.500\s+0\.750", text)
    assert "fifth" not in text


def test_the_fifth_set_is_printed_with_all_five_together():
    examples = [Example("a", "claim_one", ()), Example("b", "agree_discontinuity", ())]
    first = metrics(examples, [Prediction("claim_one", 1.0, ()), Prediction("claim_one", 1.0, ())], None)
    first["polarity"] = first["blind"] = first["fresh"] = metrics(
        examples, [Prediction("x", 1.0, ()), Prediction("y", 1.0, ())], None)
    first["fifth"] = metrics(examples, [Prediction("claim_two", 1.0, ()), Prediction("out_of_scope", 1.0, ())], None)
    for key, n in (("both", 4), ("all", 6), ("all_four", 8)):
        first[key] = {"examples": n, "intent_accuracy": 0.5, "claim_accuracy": 0.5, "non_claim_rejection": 0.5}
    first["all_five"] = {"examples": 10, "intent_accuracy": 0.3, "claim_accuracy": 0.2, "non_claim_rejection": 0.6}
    text = figures_text(first)
    assert re.search(r"fifth held-out\s+2\s+0\.000\s+0\.000\s+1\.000", text)
    assert re.search(r"all five\s+10\s+0\.300\s+0\.200\s+0\.600", text)


def test_no_held_out_phrasing_is_in_the_training_data():
    from rasa.shared.nlu.training_data.loading import load_data

    trained = {_normalised(m.get("text")) for m in load_data(str(ROOT / "data" / "nlu")).intent_examples}
    for path in (HELD_OUT, POLARITY, BLIND, FRESH, FIFTH):
        held = [e.text for e in load_examples(path)]
        assert len(held) > 200
        leaked = [text for text in held if _normalised(text) in trained]
        assert not leaked, f"{path.name} phrasings in data/nlu: {leaked[:5]}"


@pytest.mark.parametrize("path", [POLARITY, BLIND, FRESH, FIFTH], ids=lambda p: p.name)
def test_the_polarity_sets_assert_and_deny_every_claim_with_intents_the_domain_knows(path):
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    intents = {i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]}
    examples = load_examples(path)
    assert {e.intent for e in examples} <= intents
    claims = set(load_knowledge().claims)
    asserted = {e.intent for e in examples if e.intent.startswith("claim_")}
    assert asserted == claims
    assert sum(e.intent == "agree_discontinuity" for e in examples) >= 2 * len(claims)
