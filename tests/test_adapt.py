"""Stage 2's training pairs: the labelled sentences beside the rebuttals (bot/scoring/adapt.py)."""

import re

import pytest

from bot.essay.knowledge import KeyPoint, Knowledge, Position
from bot.scoring.adapt import PARAPHRASES, load_paraphrases, paraphrase_pairs
from bot.scoring.calibrate import check_labels, load_rebuttals
from bot.scoring.matcher import split_sentences
from bot.settings import EVAL_DIR


def _claim(key: str, *points: tuple[str, str]) -> Position:
    return Position(key, key, "s", "o", (), tuple(KeyPoint(i, t) for i, t in points), ())


TWO = Knowledge({"claim_a": _claim("claim_a", ("a-1", "First point."), ("a-2", "Second point.")),
                 "claim_b": _claim("claim_b", ("b-1", "Other claim's point."))}, {})


def test_a_sentence_is_positive_for_its_point_and_with_siblings_negative_for_its_claims_others(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("paraphrases:\n  - point: a-1\n    makes: ['makes  the\n first']\n    near_misses: ['close but no']\n")
    own = [("makes the first", "First point.", 1), ("close but no", "First point.", 0)]
    assert sorted(paraphrase_pairs(load_paraphrases(TWO, path), TWO, siblings=False)) == sorted(own)
    assert sorted(paraphrase_pairs(load_paraphrases(TWO, path), TWO, siblings=True)) == sorted(
        [*own, ("makes the first", "Second point.", 0)]
    )  # never paired with another claim's point, whose answer it is not


def test_an_unknown_point_is_an_error_not_a_skip(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("paraphrases:\n  - point: z-9\n    makes: [x]\n")
    with pytest.raises(ValueError, match="z-9"):
        load_paraphrases(TWO, path)


NEXT = EVAL_DIR / "rebuttals_next.yml"
"""Labelled rebuttals waiting for the judge's next training run (docs/matcher.md)."""


def test_the_waiting_rebuttals_name_their_own_claims_points_and_are_new(knowledge):
    waiting = load_rebuttals(NEXT)
    assert len(waiting) >= 100 and check_labels(waiting, knowledge) == []
    assert not {r.text for r in waiting} & {r.text for r in load_rebuttals()}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def test_the_shipped_sentences_name_real_points_and_copy_no_rebuttal(knowledge):
    """The rebuttals' out-of-fold figures are only honest if no training sentence restates one of theirs."""
    entries = load_paraphrases(knowledge, PARAPHRASES)
    assert {e.point for e in entries} >= {kp.id for kp in knowledge.claims["claim_authoritarian_personality"].key_points}
    rebuttals = load_rebuttals() + load_rebuttals(NEXT)
    rebuttal_sentences = [_words(s) for r in rebuttals for s in split_sentences(r.text)]
    for entry in entries:
        assert entry.makes, f"{entry.point} has no sentence that makes it"
        for sentence in entry.makes + entry.near_misses:
            mine = _words(sentence)
            overlap = max(len(mine & theirs) / len(mine | theirs) for theirs in rebuttal_sentences)
            assert overlap < 0.5, f"{sentence!r} is too close to a labelled rebuttal"


def test_a_blend_lies_on_the_line_between_the_two_models(tmp_path):
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    from bot.scoring.adapt import blend
    from bot.settings import JUDGE_DIR

    start = CrossEncoder(str(JUDGE_DIR), device="cpu")
    start.save_pretrained(str(tmp_path / "start"))
    with torch.no_grad():
        for parameter in start.model.parameters():
            parameter.add_(1.0)
    start.save_pretrained(str(tmp_path / "tuned"))
    first = CrossEncoder(str(tmp_path / "start"), device="cpu").model.state_dict()
    mixed = CrossEncoder(str(blend(tmp_path / "start", tmp_path / "tuned", 0.25, tmp_path / "mix")),
                         device="cpu").model.state_dict()
    for name, _ in start.model.named_parameters():
        assert torch.allclose(mixed[name], first[name] + 0.25, atol=1e-3), name
    with pytest.raises(ValueError, match="within"):
        blend(tmp_path / "start", tmp_path / "tuned", 1.5, tmp_path / "bad")
