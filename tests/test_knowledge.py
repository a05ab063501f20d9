"""knowledge/claims.yml against the essay and the intent contract the actions and data share (tests/contract.py)."""

from bot.essay.knowledge import KeyPoint, Knowledge, Position, validate
from tests.contract import CHARGES, CONTINUITY, FURTHER


def test_every_intent_and_charge_of_the_contract_is_there(knowledge):
    assert list(knowledge.claims)[: len(CONTINUITY + FURTHER)] == CONTINUITY + FURTHER
    assert all(key.startswith("claim_") for key in knowledge.claims)
    assert list(knowledge.charges) == CHARGES
    assert [c.key for c in knowledge.narrative] == CONTINUITY


def test_every_passage_and_footnote_referenced_exists(knowledge, essay):
    assert validate(knowledge, essay) == []


def test_points_are_stated_in_the_essays_own_words(knowledge, essay):
    (items,) = [b.items for b in essay.blocks if b.kind == "list"]
    assert [c.statement for c in knowledge.narrative] == list(items)


def test_charge_terms_do_not_overlap(knowledge):
    seen: dict[str, str] = {}
    for key, charge in knowledge.charges.items():
        for term in charge.terms:
            assert seen.setdefault(term, key) == key, f"{term!r} names both {seen[term]} and {key}"


def test_a_dangling_reference_is_reported(essay):
    bad = Position("claim_x", "X", "s", "o", ("no-such-block",), (KeyPoint("x-1", "t"),), (99,))
    problems = validate(Knowledge({"claim_x": bad}, {}), essay)
    assert any("no-such-block" in p for p in problems)
    assert any("footnote 99" in p for p in problems)
    assert any("key points" in p for p in problems)


def test_every_claim_has_a_group_and_the_ten_continuity_points_are_core(knowledge):
    groups = knowledge.group_of
    assert set(groups) == set(knowledge.claims)
    assert {groups[key] for key in CONTINUITY} == {"core"}
    assert "essay-positions" in groups.values()
