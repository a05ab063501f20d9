"""The teacher report, read from tracker stores that Rasa's own SQLTrackerStore wrote (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import re
import sqlite3
from pathlib import Path

import pytest
from markupsafe import escape

from bot.cli import main as cli
from bot.report import ReportError, build_report, load_attempts, pseudonym
from tests.contract import CONTINUITY

T0 = 1709542800.0  # 2024-03-04T09:00:00Z
OC = ["oc-1", "oc-2", "oc-3", "oc-4", "oc-5"]
NARRATIVE = CONTINUITY
ROGUE = "<script>alert('x')</script>"
DOMAIN = """
version: "3.1"
intents: [practice, claim_october_coup]
slots:
  practice_result:
    type: any
    influence_conversation: false
    mappings: [{type: custom}]
"""


def defend(claim: str, made: list[str], missed: list[str], **flags) -> dict:
    return {"claim": claim, "mode": "defend", "score": len(made), "total": len(made) + len(missed),
            "made": made, "missed": missed, "copied": False, "off_topic": False, **flags}


def prosecute(raised: list[str]) -> dict:
    return {"mode": "prosecute", "raised": raised, "missed_points": [c for c in NARRATIVE if c not in raised]}


ROUNDS = {
    "student-ab12": [
        (T0, defend("claim_october_coup", ["oc-1", "oc-3"], ["oc-2", "oc-4", "oc-5"])),
        (T0 + 600, defend("claim_october_coup", ["oc-1", "oc-2", "oc-3", "oc-5"], ["oc-4"])),
        (T0 + 1200, prosecute(NARRATIVE[:3])),
    ],
    "student-cd34": [
        (T0 + 86400, defend("claim_october_coup", ["oc-1"], ["oc-2", "oc-3", "oc-4", "oc-5"])),
        (T0 + 86400 + 300, defend("claim_human_nature", ["hn-1", "hn-2", "hn-3", "hn-4"], ["hn-5"])),
    ],
    ROGUE: [
        (T0 + 2 * 86400, defend("claim_authoritarian_personality", ["ap-1", "ap-2", "ap-3", "ap-4", "ap-5"], [])),
        (T0 + 2 * 86400 + 60, defend("claim_party_instrument", [], ["pi-1", "pi-2", "pi-3", "pi-4", "pi-5"], copied=True)),
        (T0 + 2 * 86400 + 120, defend("claim_october_coup", ["oc-1", "oc-2", "oc-5"], ["oc-3", "oc-4"])),
    ],
}


def conversation(rounds: list[tuple[float, dict]]) -> list:
    """What a practice round leaves in the tracker: the student's turns, the bot's, the result slot."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered

    events: list = [ActionExecuted("action_session_start", timestamp=T0 - 60), SessionStarted(timestamp=T0 - 60),
                    ActionExecuted("action_listen", timestamp=T0 - 60)]
    for when, result in rounds:
        events += [
            UserUttered("let me practise", {"name": "practice", "confidence": 0.97}, timestamp=when - 50),
            ActionExecuted("action_practice", timestamp=when - 49),
            BotUttered("Argue against: in 1917 the Bolsheviks staged a coup.", timestamp=when - 49),
            ActionExecuted("action_listen", timestamp=when - 49),
            UserUttered("The soviets voted for the insurrection...", {"name": "claim_october_coup", "confidence": 0.8},
                        timestamp=when - 1),
            ActionExecuted("action_practice_score", timestamp=when),
            SlotSet("practice_result", result, timestamp=when),
            BotUttered(f"You made {result.get('score', '-')} key points.", timestamp=when),
            SlotSet("practice_result", None, timestamp=when + 1),
            SlotSet("requested_slot", "practice_answer", timestamp=when + 1),
            ActionExecuted("action_listen", timestamp=when + 1),
        ]
    return events


def fill(store) -> None:
    from rasa.shared.core.trackers import DialogueStateTracker

    async def save_all() -> None:
        for student, rounds in ROUNDS.items():
            await store.save(DialogueStateTracker.from_events(student, conversation(rounds), store.domain.slots))

    asyncio.run(save_all())


def domain():
    from rasa.shared.core.domain import Domain

    return Domain.from_yaml(DOMAIN)


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory) -> str:
    from rasa.core.tracker_store import SQLTrackerStore

    path = tmp_path_factory.mktemp("tracker") / "tracker.db"
    store = SQLTrackerStore(domain(), dialect="sqlite", db=str(path))
    fill(store)
    store.engine.dispose()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def report(sqlite_url, knowledge, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    build_report(load_attempts(sqlite_url), knowledge, out, hash_ids=False, salt="unused")
    return out


def rows(folder: Path) -> list[dict]:
    with (folder / "attempts.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def section(page: str, heading: str) -> str:
    return page.split(f"<h3>{heading}</h3>", 1)[1].split("<h3>", 1)[0]


def test_every_practice_result_is_read_and_nothing_else(sqlite_url):
    attempts = load_attempts(sqlite_url)
    assert len(attempts) == 8
    assert [a.timestamp for a in attempts] == sorted(t for rounds in ROUNDS.values() for t, _ in rounds)
    first = attempts[0]
    assert (first.student, first.claim, first.score, first.total) == ("student-ab12", "claim_october_coup", 2, 5)
    assert first.missed == ("oc-2", "oc-4", "oc-5")
    (prosecution,) = [a for a in attempts if a.mode == "prosecute"]
    assert prosecution.practised == tuple(NARRATIVE[:3]) and prosecution.score is None


def test_csv_has_one_row_per_attempt_with_its_score_and_date(report):
    table = rows(report)
    assert len(table) == 8
    assert list(table[0])[:9] == ["student", "date", "claim", "point", "mode", "score", "total", "made", "missed"]
    ab12 = [r for r in table if r["student"] == "student-ab12"]
    assert [(r["date"], r["claim"], r["point"], r["mode"], r["score"], r["total"]) for r in ab12] == [
        ("2024-03-04T09:00:00+00:00", "claim_october_coup", "3", "defend", "2", "5"),
        ("2024-03-04T09:10:00+00:00", "claim_october_coup", "3", "defend", "4", "5"),
        ("2024-03-04T09:20:00+00:00", "", "", "prosecute", "", ""),
    ]
    assert ab12[0]["made"] == "oc-1 oc-3" and ab12[0]["missed"] == "oc-2 oc-4 oc-5"
    assert ab12[2]["made"] == " ".join(NARRATIVE[:3]) and ab12[2]["missed"] == " ".join(NARRATIVE[3:])
    rogue = [r for r in table if r["student"] == ROGUE]
    assert [r["score"] for r in rogue] == ["5", "0", "3"] and rogue[1]["copied"] == "true"
    assert {r["student"] for r in table} == set(ROUNDS)


def test_html_shows_every_student_with_their_rounds(report):
    page = (report / "report.html").read_text(encoding="utf-8")
    for student, rounds in ROUNDS.items():
        part = page.split(f"<h3>{escape(student)}</h3>", 1)[1].split("</section>", 1)[0]
        assert part.split("<th>Date</th>", 1)[1].split("</table>", 1)[0].count("<tr") == len(rounds)
    ab12 = page.split("<h3>student-ab12</h3>", 1)[1].split("</section>", 1)[0]
    assert "2024-03-04 09:00 UTC" in ab12 and "2 of 5" in ab12 and "4 of 5" in ab12
    assert "prosecution" in ab12 and "raised:" in ab12
    best = ab12.split("Best score", 1)[1].split("</table>", 1)[0]
    assert "3. October as an opportunistic coup" in best and "4 of 5" in best and "2 of 5" not in best


def test_class_figures_most_missed_point_and_averages(report, knowledge):
    page = (report / "report.html").read_text(encoding="utf-8")
    missed = section(page, "Most-missed key points")
    oc4 = knowledge.all_key_points()["oc-4"].text
    first_row = missed.split("<tr>")[2]
    assert "oc-4" in first_row and escape(oc4) in first_row and "4 of 4" in first_row and "100%" in first_row
    assert missed.index(">oc-2<") < missed.index(">oc-3<")
    coverage = section(page, "Coverage per point")
    october = coverage.split("3. October as an opportunistic coup", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r"<td class=n>([^<]*)</td>", october) == ["3 of 3", "4", "2.5 of 5", "50%", "1"]
    first_point = coverage.split("1. Lenin the would-be dictator", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r"<td class=n>([^<]*)</td>", first_point) == ["2 of 3", "1", "5.0 of 5", "100%", "1"]
    inexorable = coverage.split("4. An inexorable path to Stalin", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r"<td class=n>([^<]*)</td>", inexorable)[:2] == ["0 of 3", "0"]


def test_chart_is_a_png_embedded_in_the_page(report):
    page = (report / "report.html").read_text(encoding="utf-8")
    (encoded,) = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    picture = base64.b64decode(encoded)
    assert picture.startswith(b"\x89PNG\r\n\x1a\n")
    assert picture == (report / "coverage.png").read_bytes()
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<link" not in page


def test_student_ids_are_escaped(report):
    page = (report / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert escape(ROGUE) in page


def test_hashed_ids_hide_the_sender_ids(sqlite_url, knowledge, tmp_path):
    build_report(load_attempts(sqlite_url), knowledge, tmp_path / "a", hash_ids=True, salt="pepper")
    build_report(load_attempts(sqlite_url), knowledge, tmp_path / "b", hash_ids=True, salt="other")
    for folder in ("a", "b"):
        text = (tmp_path / folder / "report.html").read_text(encoding="utf-8")
        text += (tmp_path / folder / "attempts.csv").read_text(encoding="utf-8")
        assert not any(token in text for token in ("student-ab12", "student-cd34", escape(ROGUE), "alert("))
    salted = {r["student"] for r in rows(tmp_path / "a")}
    assert salted == {pseudonym(s, "pepper") for s in ROUNDS}
    assert pseudonym("student-ab12", "pepper") == "anon-" + hashlib.sha256(b"pepper\x00student-ab12").hexdigest()[:12]
    assert salted.isdisjoint(r["student"] for r in rows(tmp_path / "b"))


def test_cli_writes_the_report(sqlite_url, tmp_path, capsys):
    assert cli(["report", "--db", sqlite_url, "--out", str(tmp_path), "--hash-ids", "--salt", "s"]) == 0
    assert "8 practice rounds of 3 students" in capsys.readouterr().out
    assert {p.name for p in tmp_path.iterdir()} == {"report.html", "attempts.csv", "coverage.png"}
    assert "student-ab12" not in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_missing_database_file_is_a_clear_error_and_is_not_created(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "tracker.db"
    with pytest.raises(ReportError, match=re.escape(str(missing))):
        load_attempts(f"sqlite:///{missing}")
    assert cli(["report", "--db", f"sqlite:///{missing}", "--out", str(tmp_path / "out")]) == 2
    assert str(missing) in capsys.readouterr().err
    assert not missing.exists() and not (tmp_path / "out").exists()


def test_database_without_events_table_is_a_clear_error(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER)")
    with pytest.raises(ReportError, match=r"other\.db has no 'events' table"):
        load_attempts(f"sqlite:///{path}")


def test_unreachable_server_is_a_clear_error_without_the_password():
    with pytest.raises(ReportError, match=r"cannot read the tracker store postgresql://tutor:\*\*\*@127\.0\.0\.1:1/x") as caught:
        load_attempts("postgresql://tutor:secret@127.0.0.1:1/x")
    assert "secret" not in str(caught.value)


def test_empty_store_gives_an_empty_report(tmp_path, knowledge):
    page = build_report([], knowledge, tmp_path, hash_ids=False, salt="s").read_text(encoding="utf-8")
    assert "No practice rounds recorded yet" in page and "data:image/png;base64," in page


def test_postgresql_store_gives_the_same_report(postgres_database, sqlite_url, knowledge, tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore

    store = SQLTrackerStore(
        domain(), dialect="postgresql", host="127.0.0.1", port=5432, username="postgres", db=postgres_database
    )
    try:
        fill(store)
    finally:
        store.engine.dispose()
    attempts = load_attempts(f"postgresql://postgres@127.0.0.1:5432/{postgres_database}")
    assert attempts == load_attempts(sqlite_url)
    build_report(attempts, knowledge, tmp_path / "pg", hash_ids=False, salt="s")
    build_report(load_attempts(sqlite_url), knowledge, tmp_path / "lite", hash_ids=False, salt="s")
    assert rows(tmp_path / "pg") == rows(tmp_path / "lite")
