"""Teachers, classes and join codes on SQLite and PostgreSQL, without servers."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest
import sqlalchemy as sa

from bot.classroom import accounts, db, web
from bot.classroom.accounts import ClassroomError
from bot.classroom.joining import join_request
from bot.settings import ROOT


@pytest.fixture()
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'tracker.db'}"


@pytest.fixture()
def postgres_url(postgres_database):
    url = f"postgresql://postgres@127.0.0.1:5432/{postgres_database}"
    yield url
    db.engine_for(url).dispose()  # before the database is dropped


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    return db.engine_for(url)


def test_the_migration_brings_an_empty_database_to_the_newest_revision_once(engine):
    assert db.revision(engine) == "0001"
    tables = set(sa.inspect(engine).get_table_names())
    assert {"tutor_teachers", "tutor_classes", "tutor_memberships", "tutor_throttle", "tutor_secrets"} <= tables
    db._migrated.clear()
    db.migrate(engine)  # again: nothing to do, nothing breaks
    assert db.revision(engine) == "0001"


def test_the_migration_matches_the_tables_the_code_uses(engine):
    """Alembic's autogenerate finds no difference between the migrated database and db.metadata."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": db.VERSION_TABLE})
        differences = [d for d in compare_metadata(context, db.metadata) if "tutor_" in str(d)]
    assert differences == []


def test_a_teacher_token_is_shown_once_and_only_its_hash_is_kept(engine):
    token = accounts.add_teacher(engine, "Ms Rivera")
    assert re.fullmatch(r"tt_[0-9a-f]{16}_[A-Za-z0-9_-]{32}", token)
    with engine.connect() as connection:
        stored = " ".join(str(v) for row in connection.execute(sa.select(db.teachers)) for v in row)
    assert token.split("_", 2)[2] not in stored and stored.count("$argon2id$") == 1
    assert accounts.verify_token(engine, token).name == "Ms Rivera"
    assert accounts.verify_token(engine, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert accounts.verify_token(engine, "") is None and accounts.verify_token(engine, "tt_nothing") is None
    with pytest.raises(ClassroomError, match="already a teacher"):
        accounts.add_teacher(engine, "Ms Rivera")


def test_a_reset_token_replaces_the_old_one(engine):
    old = accounts.add_teacher(engine, "Mr Okafor")
    new = accounts.reset_token(engine, "Mr Okafor")
    assert accounts.verify_token(engine, old) is None
    assert accounts.verify_token(engine, new).name == "Mr Okafor"
    with pytest.raises(ClassroomError, match="no teacher"):
        accounts.reset_token(engine, "Nobody")


def test_join_codes_are_unambiguous_and_unguessable(engine):
    accounts.add_teacher(engine, "T")
    codes = {accounts.create_class(engine, "T", f"class {n}").join_code for n in range(40)}
    assert len(codes) == 40
    assert all(len(c) == accounts.CODE_LENGTH and set(c) <= set(accounts.ALPHABET) for c in codes)
    assert not set("0O1IL") & set(accounts.ALPHABET)
    assert accounts.CODE_LENGTH * math.log2(len(accounts.ALPHABET)) >= 30


def test_a_student_joins_moves_and_is_told_so(engine):
    accounts.add_teacher(engine, "A")
    first = accounts.create_class(engine, "A", "History 1")
    second = accounts.create_class(engine, "A", "History 2")
    joined = accounts.join(engine, "ana", first.shown_code.lower())
    assert joined.classroom.id == first.id and joined.left is None and not joined.already
    assert accounts.join(engine, "ana", first.join_code).already
    moved = accounts.join(engine, "ana", f" {second.join_code[:4]} {second.join_code[4:]} ")
    assert moved.classroom.id == second.id and moved.left.id == first.id
    assert [m.sender_id for m in accounts.members(engine, second.id)] == ["ana"]
    assert accounts.members(engine, first.id) == []  # one class at a time


def test_wrong_codes_are_refused_then_blocked(engine):
    accounts.add_teacher(engine, "B")
    real = accounts.create_class(engine, "B", "Politics")
    for _ in range(accounts.MAX_FAILURES):
        with pytest.raises(ClassroomError, match="unknown"):
            accounts.join(engine, "guesser", "ZZZZ-ZZZZ")
    with pytest.raises(ClassroomError, match="blocked"):
        accounts.join(engine, "guesser", real.join_code)  # even the right code, for a while
    assert accounts.join(engine, "someone-else", real.join_code).classroom.id == real.id


def test_a_class_is_its_teachers_only(engine):
    accounts.add_teacher(engine, "C")
    accounts.add_teacher(engine, "D")
    mine = accounts.create_class(engine, "C", "Mine")
    theirs = accounts.create_class(engine, "D", "Theirs")
    c = accounts.teacher_named(engine, "C")
    assert [k.id for k in accounts.classes_of(engine, c.id)] == [mine.id]
    assert accounts.class_of_teacher(engine, c.id, theirs.id) is None
    assert accounts.class_of_teacher(engine, c.id, mine.id).title == "Mine"


def test_removing_a_student_deletes_their_conversation_and_membership(engine):
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), data TEXT)"))
        connection.execute(sa.text("INSERT INTO events (id, sender_id, data) VALUES (1, 'ana', '{}'), (2, 'ben', '{}')"))
    accounts.add_teacher(engine, "E")
    room = accounts.create_class(engine, "E", "Room")
    accounts.join(engine, "ana", room.join_code)
    accounts.join(engine, "ben", room.join_code)
    ana = next(m for m in accounts.members(engine, room.id) if m.sender_id == "ana")
    assert accounts.remove_student(engine, room.id + 1000, ana.id) is None  # not that class's student
    assert accounts.remove_student(engine, room.id, ana.id) == "ana"
    with engine.connect() as connection:
        assert [r.sender_id for r in connection.execute(sa.text("SELECT sender_id FROM events"))] == ["ben"]
    assert [m.sender_id for m in accounts.members(engine, room.id)] == ["ben"]


def test_the_signing_secret_is_shared_and_sessions_cannot_be_forged(engine):
    key = accounts.secret(engine)
    assert len(key) == 32 and accounts.secret(engine) == key
    value = web._sign(key, {"t": 1, "c": "x", "exp": 9e12})
    assert web._unsign(key, value)["t"] == 1
    body, _, mac = value.rpartition(".")
    assert web._unsign(key, body.replace("e", "f", 1) + "." + mac) is None
    assert web._unsign(b"another key" * 3, value) is None
    assert web._unsign(key, web._sign(key, {"t": 1, "c": "x", "exp": 1})) is None  # expired


@pytest.mark.parametrize(("text", "code"), [
    ("join ABCD-EFGH", "ABCD-EFGH"), ("Join abcdefgh", "abcdefgh"), ("join class ABCD EFGH.", "ABCD EFGH"),
    ("/join ABCDEFGH", "ABCDEFGH"), ("join the class: ABCD-EFGH!", "ABCD-EFGH"),
    ("I'd join Lenin's side", None), ("join", None), ("the party joined the coalition", None),
])
def test_a_join_request_is_recognised_only_when_it_asks_to_join(text, code):
    assert join_request(text) == code


def test_the_classroom_reads_the_database_the_tracker_store_is_configured_with(tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore

    from bot.server.stores import database_url

    sqlite = database_url({"TUTOR_TRACKER_DB": str(tmp_path / "t.db")})
    rasa_sqlite = SQLTrackerStore.get_db_url(dialect="sqlite", db=str(tmp_path / "t.db"))
    assert sa.engine.make_url(sqlite) == sa.engine.make_url(str(rasa_sqlite))
    env = {"TUTOR_ENDPOINTS": "endpoints.postgres.yml", "TUTOR_DB_HOST": "db.example", "TUTOR_DB_PORT": "5433",
           "TUTOR_DB_NAME": "tutor", "TUTOR_DB_USER": "rasa", "TUTOR_DB_PASSWORD": "s3cret"}
    rasa = SQLTrackerStore.get_db_url(dialect="postgresql", host="db.example", port=5433, db="tutor",
                                      username="rasa", password="s3cret")
    assert sa.engine.make_url(database_url(env)) == sa.engine.make_url(str(rasa))


def test_the_command_line_contract(sqlite_url):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot", *args, "--db", sqlite_url], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    added = run("teacher", "add", "--name", "Ms Rivera")
    assert added.returncode == 0, added.stderr
    (token,) = re.findall(r"^token: (\S+)$", added.stdout, re.M)
    reset = run("teacher", "add", "--name", "Ms Rivera", "--reset")
    (new_token,) = re.findall(r"^token: (\S+)$", reset.stdout, re.M)
    assert new_token != token
    created = run("classes", "create", "--teacher", "Ms Rivera", "--title", "Year 12")
    (code,) = re.findall(r"^join code: ([A-Z0-9]{4}-[A-Z0-9]{4})$", created.stdout, re.M)
    listed = run("classes", "list", "--teacher", "Ms Rivera")
    assert code in listed.stdout and "Year 12" in listed.stdout
    refused = run("classes", "create", "--teacher", "Nobody", "--title", "X")
    assert refused.returncode == 2 and "no teacher called 'Nobody'" in refused.stderr


def test_a_pseudonymised_class_shows_salted_ids_and_only_rounds_since_joining(engine):
    import json
    import time

    from bot.tutoring.results import PracticeResult

    with engine.begin() as connection:
        connection.execute(sa.text(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), type_name VARCHAR(255), "
            "timestamp FLOAT, action_name VARCHAR(255), data TEXT)"
        ))
    accounts.add_teacher(engine, "F")
    room = accounts.create_class(engine, "F", "Anonymous", pseudonymise=True)
    accounts.join(engine, "dana", room.join_code)
    joined = accounts.members(engine, room.id)[0].joined_at
    result = PracticeResult.defence("claim_october_coup", 2, 5, ["oc-1"], ["oc-2"]).as_slot()
    with engine.begin() as connection:
        for row_id, when in ((1, joined - 3600), (2, time.time() + 1)):
            connection.execute(
                sa.text("INSERT INTO events VALUES (:id, 'dana', 'slot', :at, 'practice_result', :data)"),
                {"id": row_id, "at": when, "data": json.dumps({"name": "practice_result", "value": result, "timestamp": when})},
            )
    people, names, attempts = web._class_data(engine, accounts.classes_of(engine, accounts.teacher_named(engine, "F").id)[0])
    assert [m.sender_id for m in people] == ["dana"]
    assert names[people[0].id].startswith("anon-") and "dana" not in names[people[0].id]
    assert len(attempts) == 1 and attempts[0].student == names[people[0].id]  # the round before joining is not theirs
