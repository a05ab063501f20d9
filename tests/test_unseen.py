"""Thresholds for students' answers chosen on rebuttals the shipped judge never saw (bot/scoring/unseen.py)."""

from __future__ import annotations

import yaml

from bot.scoring.calibrate import Pair, folds_of, load_rebuttals
from bot.scoring.matcher import Scoring, load_scoring
from bot.scoring.unseen import choose_unseen, unseen_record

GROUP_OF = {"a1": "a", "a2": "a", "b1": "b", "b2": "b"}


def _pairs(scores: dict[str, list[tuple[float, bool]]]) -> list[Pair]:
    """One key point per rebuttal: ``scores[claim]`` lists (score, made) for that claim's rebuttals."""
    pairs, index = [], 0
    for claim, rows in scores.items():
        for score, gold in rows:
            pairs.append(Pair(index, claim, f"{claim}-kp", score, gold))
            index += 1
    return pairs


def _folds(pairs: list[Pair]) -> list[int]:
    from bot.scoring.calibrate import Labelled

    return folds_of([Labelled(p.claim, str(p.rebuttal), ()) for p in pairs])


def test_groups_that_need_different_thresholds_get_their_own():
    """Group a is made at 0.3-0.4 with misses at 0.1-0.2; group b's misses reach 0.8 and its points 0.9."""
    a = [(0.35, True), (0.4, True), (0.3, True), (0.15, False), (0.1, False)] * 2
    b = [(0.92, True), (0.95, True), (0.9, True), (0.8, False), (0.75, False)] * 2
    pairs = _pairs({"a1": a, "b1": b})
    result = choose_unseen(pairs, _folds(pairs), GROUP_OF, before_threshold=0.5)
    assert result.grouped
    assert 0.2 < result.by_group["a"] <= 0.3 and 0.8 < result.by_group["b"] <= 0.9
    assert result.by_group_cross_validated.f1 == 1.0 and result.cross_validated.f1 < 0.9
    assert result.before.recall == 0.5  # at 0.5 only group b's points are found
    record = unseen_record(result, "waiting.yml")
    assert record["group_thresholds"] == result.by_group and record["students_answers"]["rebuttals"] == 20


def test_one_threshold_stays_when_groups_gain_nothing_from_their_own():
    rows = [(0.9, True), (0.8, True), (0.7, True), (0.3, False), (0.2, False)] * 2
    pairs = _pairs({"a1": rows, "b2": rows})
    result = choose_unseen(pairs, _folds(pairs), GROUP_OF, before_threshold=0.5)
    assert not result.grouped and "group_thresholds" not in unseen_record(result, "waiting.yml")
    assert 0.3 < result.threshold <= 0.7 and result.adopted == result.cross_validated


def test_a_group_without_its_own_threshold_is_judged_at_the_common_one_and_passages_at_theirs(tmp_path):
    path = tmp_path / "scoring.yml"
    path.write_text(yaml.safe_dump({"threshold": 0.9, "group_thresholds": {"core": 0.78}, "passage_threshold": 0.53}))
    scoring = load_scoring(path)
    assert (scoring.threshold_for("core"), scoring.threshold_for("essay-positions"), scoring.threshold_for(None)) == (
        0.78, 0.9, 0.9)
    assert scoring.for_passages == 0.53
    assert Scoring(threshold=0.6).for_passages == 0.6


def test_the_unseen_rebuttals_were_never_trained_on():
    """Every shipped judge's out-of-fold record names the files it was trained on; the unseen set is not one."""
    import json

    from bot.scoring.calibrate import REBUTTALS, UNSEEN
    from bot.settings import JUDGE_DIR

    record = json.loads((JUDGE_DIR / "rebuttals_oof.json").read_text(encoding="utf-8"))
    assert UNSEEN.name not in record["data"] and REBUTTALS.name in record["data"]
    assert not {r.text for r in load_rebuttals(UNSEEN)} & {r.text for r in load_rebuttals(REBUTTALS)}


def test_each_key_point_is_counted_at_its_groups_threshold():
    a = [(0.35, True), (0.4, True), (0.3, True), (0.15, False), (0.1, False)] * 2
    b = [(0.92, True), (0.95, True), (0.9, True), (0.8, False), (0.75, False)] * 2
    pairs = _pairs({"a1": a, "b1": b})
    result = choose_unseen(pairs, _folds(pairs), GROUP_OF, before_threshold=0.5)
    counts, made = result.points["b1-kp"]
    assert made == 6 and (counts.tp, counts.fp, counts.fn) == (6, 0, 0)
    assert result.points["a1-kp"][0].f1 == 1.0
