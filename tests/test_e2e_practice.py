"""Practice rounds over REST with the real servers, and the teacher report built from them."""

from __future__ import annotations

import csv
import uuid

import pytest

from bot.essay.knowledge import load_knowledge
from bot.report import build_report, load_attempts

pytestmark = pytest.mark.e2e

GOOD = [
    "Lenin chose a life of prison, exile and isolation, which makes no sense if all he wanted was power.",
    "People around him didn't just defer to him: he was outvoted over Brest-Litovsk, "
    "so a would-be dictator would have been stopped.",
    "Explaining the whole revolution by one man's personality is the great man theory of history, not serious history.",
]
WEAK = ["I don't agree, he seemed nice enough."]


def student() -> str:
    return f"practice-{uuid.uuid4().hex[:8]}"


def practise(client, me: str, answer: list[str], start: str = "quiz me") -> list[dict]:
    opening = client.text(me, start)
    assert opening.startswith("Practice round")
    for part in answer:
        assert "Noted" in client.text(me, part)
    return client.say(me, "done")


def test_a_round_scores_the_rebuttal_and_offers_what_next(client):
    me = student()
    replies = practise(client, me, GOOD)
    texts = "\n".join(r.get("text", "") for r in replies)
    assert "key points against point 1" in texts
    assert "prison, exile and isolation" in texts and "The essay (" in texts
    assert [b["title"] for b in replies[-1]["buttons"]] == ["Try this point again", "Next point", "Stop"]
    result = client.slot(me, "practice_result")
    assert result["claim"] == "claim_authoritarian_personality" and result["score"] >= 2
    nxt = client.text(me, replies[-1]["buttons"][1]["payload"])
    assert "point 2" in nxt


def test_progress_survives_and_is_per_student(client):
    me, other = student(), student()
    practise(client, me, WEAK)
    progress = client.text(me, "how am I doing?")
    assert "1 point practised" in progress and "Point 1" in progress
    assert client.text(other, "how am I doing?").startswith("You haven't done a practice round yet")


def test_switching_sides_summarises_the_points_raised(client):
    me = student()
    assert client.text(me, "I'll argue for continuity").startswith("You're the prosecutor")
    client.say(me, "the october revolution was just a coup by a handful of bolsheviks")
    client.say(me, "every leninist regime became a one-party police state")
    summary = client.text(me, "done")
    assert "you raised 2" in summary and "point 1" in summary.split("You left out:")[1]


def test_the_teacher_report_counts_what_the_class_did(client, assistant, tmp_path):
    good, weak = student(), student()
    practise(client, good, GOOD)
    practise(client, weak, WEAK)
    attempts = [a for a in load_attempts(f"sqlite:///{assistant.tracker_db}") if a.student in {good, weak}]
    assert len(attempts) == 2
    build_report(attempts, load_knowledge(), tmp_path, hash_ids=False, salt="x")
    rows = {row["student"]: row for row in csv.DictReader((tmp_path / "attempts.csv").open())}
    assert int(rows[good]["score"]) >= 2 and int(rows[weak]["score"]) <= 1
    assert rows[good]["total"] == rows[weak]["total"] == "5"
    html = (tmp_path / "report.html").read_text()
    assert good in html and weak in html and "data:image/png;base64," in html


def test_other_students_are_answered_while_an_answer_is_scored(client):
    """Judging a long answer takes hundreds of milliseconds; the action server does it off its event
    loop, so a student who asks something light meanwhile is answered first, not after it."""
    import threading
    import time

    me, other = student(), student()
    tag = uuid.uuid4().hex[:6]
    long_answer = [f"{sentence} ({tag} {n})" for n in range(4) for sentence in GOOD]
    opening = client.text(me, "quiz me")
    assert opening.startswith("Practice round")
    for part in long_answer:
        assert "Noted" in client.text(me, part)
    assert client.text(other, "how am I doing?")  # the other student's conversation exists and answers
    finished: dict[str, float] = {}

    def done() -> None:
        client.say(me, "done")
        finished["scored"] = time.perf_counter()

    scoring = threading.Thread(target=done)
    scoring.start()
    time.sleep(0.08)  # the "done" is in the action server by now
    assert client.text(other, "how am I doing?")
    finished["light"] = time.perf_counter()
    scoring.join(timeout=120)
    assert client.slot(me, "practice_result")["claim"] == "claim_authoritarian_personality"
    assert finished["light"] < finished["scored"]
