"""The key point matcher: sentence splitting, scoring, flags, the CLI, and its calibration."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from bot.scoring.calibrate import Memo, calibrate, check_labels, load_rebuttals
from bot.scoring.matcher import MAX_WORDS, Matcher, load_key_points, load_scoring, load_texts, split_sentences
from bot.settings import ROOT
from tests.contract import CONTINUITY


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("It wasn't a coup. The workers backed it!", ["It wasn't a coup.", "The workers backed it!"]),
        ("no punctuation here at all", ["no punctuation here at all"]),
        ("- first point\n- second point\n\n* third", ["first point", "second point", "third"]),
        ("1. One thing.\n2) Another thing", ["One thing.", "Another thing"]),
        ("V. I. Lenin wrote it, e.g. in 1917. Then what?", ["V. I. Lenin wrote it, e.g. in 1917.", "Then what?"]),
        ("He said \"no.\" Then he left.", ["He said \"no.\"", "Then he left."]),
        ("Really?! Yes... maybe", ["Really?!", "Yes...", "maybe"]),
        ("", []),
        ("  \n ... \n - ", []),
    ],
)
def test_sentences_are_split_as_a_reader_would(text, sentences):
    assert split_sentences(text) == sentences


def test_a_run_on_answer_is_read_in_overlapping_chunks_and_a_huge_one_is_cut():
    words = [f"w{i}" for i in range(100)]
    chunks = split_sentences(" ".join(words))
    assert len(chunks) > 1 and all(len(c.split()) <= 40 for c in chunks)
    assert chunks[0].split()[0] == "w0" and chunks[-1].split()[-1] == "w99"
    huge = split_sentences("word " * (MAX_WORDS * 5))
    assert sum(len(c.split()) for c in huge) <= 2 * MAX_WORDS


class CountingEncoder:
    """Bag-of-words vectors: enough to test the bookkeeping without the model."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        vectors = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, sum(map(ord, word.strip(".,"))) % 64] += 1
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def test_key_point_vectors_are_computed_once_across_students():
    encoder = CountingEncoder()
    matcher = Matcher(encoder)
    points = {"a": "the cat sat on the mat", "b": "dogs bark at night"}
    matcher.score("The cat sat down.", points)
    matcher.score("Dogs bark loudly.", points)
    assert encoder.seen.count("the cat sat on the mat") == 1
    assert encoder.seen.count("dogs bark at night") == 1


@pytest.fixture(scope="module")
def matcher(tutor):
    """The matcher practice rounds use: the trained judge on a cosine shortlist, at the calibrated settings."""
    from bot.tutoring.practice import shared_practice

    return shared_practice().matcher


@pytest.fixture(scope="module")
def scoring():
    return load_scoring()


@pytest.fixture(scope="module")
def points(knowledge):
    return {kp.id: kp.text for kp in knowledge.claims["claim_authoritarian_personality"].key_points}


def test_a_paraphrase_scores_above_the_threshold_and_an_unrelated_sentence_below(matcher, scoring, points):
    paraphrase = (
        "Straight after taking power the Bolsheviks abolished capital punishment,"
        " which isn't what people planning a personal dictatorship do."
    )
    scores = matcher.score(paraphrase, points)
    assert scores["ap-5"] >= scoring.threshold
    assert max(scores, key=scores.get) == "ap-5"
    unrelated = matcher.score("The bakery on the corner sells very good bread.", points)
    assert all(0.0 <= s < scoring.threshold for s in unrelated.values())


def test_the_sentence_that_made_a_point_is_given(matcher, scoring, points):
    made = "Lenin chose years of prison, exile and isolation, a strange path for someone who only wanted power."
    text = f"Stalin was cruel. {made}"
    result = matcher.assess(text, points, scoring.threshold)
    assert [p.id for p in result.made] == ["ap-1"]
    assert result.points["ap-1"].sentence == made
    assert result.score == 1 and result.total == len(points)
    assert result.nearest_miss is not None and result.nearest_miss.id != "ap-1"


@pytest.mark.parametrize("text", ["", "   \n  ", None])
def test_an_empty_answer_scores_nothing_and_is_flagged(matcher, scoring, points, text):
    result = matcher.assess(text, points, scoring.threshold)
    assert result.empty and not result.off_topic and result.score == 0


@pytest.mark.parametrize("text", ["I like pizza and football.", "lol idk", "Can you help me with my maths homework?"])
def test_an_off_topic_answer_scores_nothing_and_is_flagged(matcher, scoring, points, text):
    result = matcher.assess(text, points, scoring.threshold, off_topic_floor=scoring.off_topic_floor)
    assert result.off_topic and not result.empty and result.score == 0


def test_a_wrong_but_relevant_answer_is_not_called_off_topic(matcher, scoring, points):
    result = matcher.assess("Lenin was authoritarian from the very beginning.", points, scoring.threshold)
    assert not result.off_topic


@pytest.fixture(scope="module")
def passage(essay, knowledge):
    block_id = knowledge.claims["claim_authoritarian_personality"].passages[1]
    return {block_id: essay.block(block_id).text}


def test_a_pasted_essay_passage_is_recognised_and_earns_nothing(matcher, scoring, points, passage):
    (block_id, text), = passage.items()
    assert matcher.score(text, points)["ap-2"] >= scoring.threshold
    result = matcher.assess(text, points, scoring.threshold, essay_passages=passage)
    assert result.copied and result.copied_from == (block_id,)
    assert result.score == 0 and not result.off_topic


def test_own_sentences_beside_a_paste_still_count_and_copied_ones_do_not(matcher, scoring, points, passage):
    (text,) = passage.values()
    answer = f"{text}\nAlso, Lenin chose years of prison, exile and isolation, a strange path for someone who only wanted power."
    result = matcher.assess(answer, points, scoring.threshold, essay_passages=passage)
    assert result.copied
    assert [p.id for p in result.made] == ["ap-1"]
    assert all(s not in result.copied_sentences for s in (p.sentence for p in result.made))


def test_a_short_quotation_inside_the_students_own_argument_is_allowed(matcher, scoring, points, passage):
    answer = (
        "As the essay puts it, there was 'no automatic deferral to Lenin': his comrades argued with him all the "
        "time and would have stopped him if he had tried to make himself a dictator."
    )
    result = matcher.assess(answer, points, scoring.threshold, essay_passages=passage)
    assert not result.copied and not result.copied_sentences
    assert "ap-2" in [p.id for p in result.made]


def test_key_points_and_texts_are_read_in_the_forms_a_teacher_writes(tmp_path):
    mapping, listed, claims = tmp_path / "a.yml", tmp_path / "b.yml", tmp_path / "c.yml"
    mapping.write_text("k1: First point.\nk2: >-\n  Second\n  point.\n")
    listed.write_text("- {id: k1, text: First point.}\n- {id: k2, text: Second point.}\n")
    claims.write_text(yaml.safe_dump({"claims": [{"intent": "c", "key_points": [{"id": "k1", "text": "First point."}]}]}))
    assert load_key_points(mapping) == load_key_points(listed) == {"k1": "First point.", "k2": "Second point."}
    assert load_key_points(claims) == {"k1": "First point."}
    texts = tmp_path / "t.jsonl"
    texts.write_text('{"id": 7, "text": "Hi."}\n\n{"id": "b", "text": null}\n')
    assert load_texts(texts) == [("7", "Hi."), ("b", "")]
    texts.write_text('{"text": "no id"}\n')
    with pytest.raises(ValueError, match=":1:"):
        load_texts(texts)


@pytest.mark.command
def test_the_match_command_prints_a_score_in_0_1_for_every_pair(tmp_path):
    key_points = tmp_path / "kp.yml"
    key_points.write_text(yaml.safe_dump({"rain": "It rains a lot in autumn.", "cats": "Cats sleep most of the day."}))
    texts = tmp_path / "texts.jsonl"
    rows = [{"id": "t1", "text": "My cat naps all afternoon."}, {"id": 2, "text": ""}, {"id": "t3", "text": "Wet weather."}]
    texts.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "match", "--key-points", str(key_points), "--texts", str(texts)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    scores = json.loads(done.stdout)
    assert set(scores) == {"t1", "2", "t3"}
    for by_point in scores.values():
        assert set(by_point) == {"rain", "cats"}
        assert all(0.0 <= s <= 1.0 for s in by_point.values())
    assert scores["t1"]["cats"] > scores["t1"]["rain"]
    assert scores["2"] == {"rain": 0.0, "cats": 0.0}


@pytest.fixture(scope="module")
def rebuttals():
    return load_rebuttals()


def test_every_continuity_point_has_enough_honestly_labelled_rebuttals(rebuttals, knowledge):
    assert check_labels(rebuttals, knowledge) == []
    for claim in CONTINUITY:
        assert sum(r.claim == claim for r in rebuttals) >= 8, claim


@pytest.fixture(scope="module")
def calibration(encoder, rebuttals, knowledge, essay, scoring):
    from bot.scoring.calibrate import REBUTTALS, out_of_fold
    from bot.scoring.judge import shared_judge

    judge = shared_judge()
    matcher = Matcher(Memo(encoder), scoring, judge=judge, shortlist=scoring.shortlist, whole_text=True)
    held_out = out_of_fold(judge.folder, REBUTTALS, rebuttals, scoring.shortlist)
    return calibrate(matcher, rebuttals, knowledge, essay, held_out)


@pytest.mark.slow  # the whole calibration: about a minute
def test_calibration_keeps_its_measured_quality(calibration):
    """Floors just under what was measured (knowledge/scoring.yml); the cross-validated ones are out-of-fold."""
    assert calibration.in_sample.f1 >= 0.75
    assert calibration.cross_validated.f1 >= 0.69
    assert calibration.cross_validated.recall >= 0.69 and calibration.cross_validated.precision >= 0.68


@pytest.mark.slow  # the whole calibration: about a minute
def test_the_judge_beats_the_zero_shot_cosine_on_answers_it_never_saw(calibration, encoder, rebuttals, knowledge, essay):
    cosine = calibrate(Matcher(Memo(encoder)), rebuttals, knowledge, essay)
    assert calibration.cross_validated.f1 > cosine.cross_validated.f1
    assert calibration.cross_validated.recall > cosine.cross_validated.recall


@pytest.mark.slow  # the whole calibration: about a minute
def test_the_recorded_threshold_is_the_one_this_set_chooses(calibration, scoring):
    assert abs(scoring.for_passages - calibration.threshold) <= 0.011, "rerun `python -m bot calibrate --write`"
    assert scoring.record.get("chosen_on") == "eval/rebuttals.yml"


@pytest.mark.slow  # scores the 265 unseen rebuttals: about a minute
def test_students_answers_are_judged_at_the_thresholds_the_unseen_rebuttals_choose(calibration, encoder, knowledge,
                                                                                   essay, scoring):
    from bot.scoring.calibrate import UNSEEN, folds_of, score_pairs
    from bot.scoring.judge import shared_judge
    from bot.scoring.unseen import choose_unseen

    waiting = load_rebuttals(UNSEEN)
    matcher = Matcher(Memo(encoder), scoring, judge=shared_judge(), shortlist=scoring.shortlist, whole_text=True)
    pairs = score_pairs(matcher, waiting, knowledge, essay).pairs
    group_of = {key: position.group for key, position in knowledge.claims.items()}
    fresh = choose_unseen(pairs, folds_of(waiting), group_of, calibration.threshold)
    assert abs(scoring.threshold - fresh.threshold) <= 0.011, "rerun `python -m bot calibrate --write`"
    expected = fresh.by_group if fresh.grouped else {}
    assert scoring.group_thresholds.keys() == expected.keys()
    assert all(abs(scoring.group_thresholds[g] - t) <= 0.011 for g, t in expected.items())
    assert scoring.record["students_answers"]["rebuttals"] == len(waiting)
    assert fresh.adopted.precision >= 0.78 and fresh.adopted.recall >= 0.8, "floors just under what was measured"
    assert fresh.adopted.f1 > fresh.before.f1, "the thresholds chosen on the unseen rebuttals must beat the old one there"


@pytest.mark.slow  # the whole calibration: about a minute
def test_no_labelled_rebuttal_that_makes_a_point_is_taken_for_off_topic_or_a_copy(calibration, rebuttals):
    """A moral aside or a pasted fact may be set aside; a rebuttal that makes a point must be read."""
    assert [i for i in calibration.below_floor + calibration.copied if rebuttals[i].makes] == []


class WordJudge:
    """Word overlap as a pair judge, never exactly 0: stands in for the trained weights."""

    def score(self, pairs):
        return np.array([0.01 + len(set(a.lower().split()) & set(b.lower().split())) / (1 + len(b.split()))
                         for a, b in pairs], dtype=np.float32)


ANSWERS = [
    "The workers backed the soviets. The party won the congress. Nobody staged a coup in the night.",
    "It was a coup.",
    "The soviets were elected. " * 40,
    "Lenin wanted power. The party obeyed him. Then the state grew and grew.",
]
POINTS = {"a": "the workers backed the soviets in October", "b": "the party won a majority at the congress",
          "c": "power was not what Lenin wanted"}


@pytest.mark.parametrize("shortlist", [None, 3, 2, 1, 0])
def test_replaying_kept_unit_scores_gives_what_the_matcher_gives(shortlist):
    """Out-of-fold unit scores are kept once; every reading rule replayed from them must be the live rule."""
    from bot.essay.knowledge import KeyPoint, Knowledge, Position
    from bot.scoring.calibrate import Labelled, replay, unit_scores

    points = tuple(KeyPoint(k, t) for k, t in POINTS.items())
    knowledge = Knowledge({"c": Position("c", "c", "", "", (), points, ())}, {})
    rebuttals = [Labelled("c", text, ("a",)) for text in ANSWERS]
    every = Matcher(CountingEncoder(), judge=WordJudge(), shortlist=None, whole_text=True)
    kept = unit_scores(every, rebuttals, knowledge)
    live = Matcher(CountingEncoder(), judge=WordJudge(), shortlist=shortlist, whole_text=True)
    replayed = {(p.rebuttal, p.point): p.score for p in replay(kept, rebuttals, shortlist)}
    for i, text in enumerate(ANSWERS):
        assessed = live.assess(text, POINTS, threshold=1.0, off_topic_floor=0.0)
        for kp, result in assessed.points.items():
            assert replayed[(i, kp)] == pytest.approx(result.score, abs=1e-5), (text, kp)


def test_the_whole_answer_alone_still_reads_a_one_sentence_answer_and_shows_a_sentence():
    live = Matcher(CountingEncoder(), judge=WordJudge(), shortlist=0, whole_text=True)
    single = live.assess("the workers backed the soviets", POINTS, threshold=0.3, off_topic_floor=0.0)
    assert single.points["a"].score > 0.3
    several = live.assess(ANSWERS[0], POINTS, threshold=0.3, off_topic_floor=0.0)
    assert several.points["a"].made and several.points["a"].sentence == "The workers backed the soviets."


def test_the_cheapest_rule_within_noise_of_the_best_is_chosen():
    from bot.scoring.calibrate import Counts, choose_rule

    table = {None: (Counts(80, 20, 20), 20.0), 3: (Counts(81, 20, 19), 14.0), 0: (Counts(80, 21, 20), 6.0),
             1: (Counts(60, 40, 40), 4.0)}
    assert choose_rule(table) == 0
    table[0] = (Counts(70, 30, 30), 6.0)
    assert choose_rule(table) == 3
