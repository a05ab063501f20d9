"""make eval's figures: computed as defined, and read from held-out sets that training never sees."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.essay.knowledge import load_knowledge
from bot.settings import ROOT
from bot.tools.evaluate import (
    HELD_OUT,
    LATER_SETS,
    TOGETHER,
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


@pytest.mark.parametrize("count", range(1, len(LATER_SETS) + 1))
def test_each_later_set_is_printed_with_the_sets_before_it_together_and_no_set_after(count):
    examples = [Example("a", "claim_one", ()), Example("b", "agree_discontinuity", ())]
    first = metrics(examples, [Prediction("claim_one", 1.0, ()), Prediction("claim_one", 1.0, ())], None)
    for key, _, _ in LATER_SETS[:count - 1]:
        first[key] = metrics(examples, [Prediction("x", 1.0, ()), Prediction("y", 1.0, ())], None)
    last, _, last_name = LATER_SETS[count - 1]
    first[last] = metrics(examples, [Prediction("claim_one", 1.0, ()), Prediction("deny", 1.0, ())], None)
    for key, _ in TOGETHER[:count]:
        first[key] = {"examples": 4, "intent_accuracy": 0.25, "claim_accuracy": 0.5, "non_claim_rejection": 0.75}
    text = figures_text(first)
    assert re.search(r"^held-out\s+2\s+0\.500\s+1\.000\s+0\.000", text, re.M)
    assert re.search(rf"^{last_name}\s+2\s+0\.500\s+1\.000\s+1\.000", text, re.M)
    assert re.search(rf"^{TOGETHER[count - 1][1]}\s+4\s+0\.250\s+0\.500\s+0\.750", text, re.M)
    for _, _, later_name in LATER_SETS[count:]:
        assert later_name not in text


def test_no_held_out_phrasing_is_in_the_training_data():
    from rasa.shared.nlu.training_data.loading import load_data

    trained = {_normalised(m.get("text")) for m in load_data(str(ROOT / "data" / "nlu")).intent_examples}
    for path in (HELD_OUT, *(path for _, path, _ in LATER_SETS)):
        held = [e.text for e in load_examples(path)]
        assert len(held) > 200
        leaked = [text for text in held if _normalised(text) in trained]
        assert not leaked, f"{path.name} phrasings in data/nlu: {leaked[:5]}"


@pytest.mark.parametrize("path", [path for _, path, _ in LATER_SETS], ids=lambda p: p.name)
def test_the_polarity_sets_assert_and_deny_every_claim_with_intents_the_domain_knows(path):
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    intents = {i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]}
    examples = load_examples(path)
    assert {e.intent for e in examples} <= intents
    claims = set(load_knowledge().claims)
    asserted = {e.intent for e in examples if e.intent.startswith("claim_")}
    assert asserted == claims
    assert sum(e.intent == "agree_discontinuity" for e in examples) >= 2 * len(claims)
