"""Two Rasa servers and two action servers sharing PostgreSQL and Redis, as behind a load balancer.

Both reach the stores through proxies the tests can cut, so a store going away while serving is
a real broken connection, not a mock. The tests use a database and a Redis db of their own and
remove them afterwards.
"""

from __future__ import annotations

import concurrent.futures
import uuid

import psycopg2
import pytest
import redis

from bot.channels.edges import response
from bot.server.serve import Assistant, free_port
from bot.server.stores import POSTGRES_ENDPOINTS
from tests.conftest import ARTIFACTS, Client
from tests.faults import CuttableProxy

MORE = ("The essay also answers:", "More from the essay")  # domain.yml utter_more, utter_more_plain

pytestmark = pytest.mark.e2e

REDIS_DB = "13"
STORE_DOWN = response("utter_store_unavailable")


def _postgres(dbname: str = "postgres"):
    connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=dbname)
    connection.autocommit = True
    return connection


@pytest.fixture(scope="module")
def stores():
    database = f"tutor_test_{uuid.uuid4().hex[:8]}"
    postgres, cache = CuttableProxy(5432), CuttableProxy(6379)
    env = {
        "TUTOR_ENDPOINTS": str(POSTGRES_ENDPOINTS),
        "TUTOR_DB_PORT": str(postgres.port),
        "TUTOR_DB_NAME": database,
        "TUTOR_REDIS_PORT": str(cache.port),
        "TUTOR_REDIS_DB": REDIS_DB,
    }
    yield env, postgres, cache
    postgres.close()
    cache.close()
    connection = _postgres()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    connection.close()
    redis.Redis(port=6379, db=int(REDIS_DB)).flushdb()


@pytest.fixture(scope="module")
def servers(stores):
    env, _, _ = stores
    pair = [
        Assistant(
            port=free_port(), action_port=free_port(), endpoints=POSTGRES_ENDPOINTS, extra_env=env,
            log_dir=ARTIFACTS / "logs" / f"scale-{name}",
        )
        for name in "ab"
    ]
    try:
        for server in pair:
            server.check_stores()
            server.start_actions()
            server.start_rasa()
        for server in pair:
            server.wait_ready(360)
        yield pair
    finally:
        for server in pair:
            server.stop()


@pytest.fixture(scope="module")
def both(servers) -> list[Client]:
    return [Client(server.url) for server in servers]


def student() -> str:
    return f"scale-{uuid.uuid4().hex[:8]}"


def parts(replies: list[dict]) -> list[str]:
    return [r.get("text") or "" for r in replies]


def check_history(client: Client, me: str, sent: list[str], replies: list[str]) -> list[dict]:
    """Every message once, in order, each turn finished before the next, every reply stored.

    ``replies`` are the texts the student received, in order; compared joined, because Rasa's
    collecting channel splits a stored text at blank lines unless it carries buttons.
    """
    events = client.tracker(me)["events"]
    users = [e for e in events if e["event"] == "user"]
    assert [e["text"] for e in users] == sent
    stored = [(e.get("text") or "").strip() for e in events if e["event"] == "bot"]
    assert "\n\n".join(stored) == "\n\n".join(replies)
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)
    for position, event in enumerate(events):
        if event["event"] == "user" and position:
            before = [e for e in events[:position] if e["event"] == "action"]
            assert before[-1]["name"] == "action_listen", f"turn before {event['text']!r} unfinished"
    return events


def test_a_student_moving_between_servers_keeps_one_conversation(both):
    me = student()
    turns = [
        (0, "lenin was a dictator from day one"),
        (1, "tell me more"),
        (0, "tell me more"),
        (1, "sources"),
        (0, "quiz me"),
        (1, "Lenin chose a life of prison, exile and isolation, which makes no sense if all he wanted was power."),
        (0, "done"),
        (1, "how am I doing?"),
    ]
    said: dict[str, list[list[dict]]] = {}
    received: list[list[dict]] = []
    shown: list[list[str]] = []
    for server, text in turns:
        received.append(both[server].say(me, text))
        said.setdefault(text, []).append(received[-1])
        shown.append(list(both[1 - server].slot(me, "shown_passages") or []))
    first, second = said["tell me more"]
    assert first[0]["text"].startswith(MORE) and second[0]["text"].startswith(MORE)
    assert first[0]["text"] != second[0]["text"]
    assert len(shown[0]) < len(shown[1]) < len(shown[2])
    feedback = "\n".join(r.get("text", "") for r in said["done"][0])
    assert "key points against point 1" in feedback
    assert "1 point practised" in "\n".join(r.get("text", "") for r in said["how am I doing?"][0])
    check_history(both[0], me, [t for _, t in turns], [part for replies in received for part in parts(replies)])


def test_a_burst_to_both_servers_is_answered_one_message_at_a_time(both):
    me = student()
    opening = both[0].say(me, "the bolsheviks banned all the other parties")
    burst = ["tell me more", "sources", "what are the six points?", "go on", "more", "where does it say that"]
    with concurrent.futures.ThreadPoolExecutor(len(burst)) as pool:
        futures = [pool.submit(both[n % 2].say, me, text) for n, text in enumerate(burst)]
        answers = [f.result() for f in futures]
    assert all(a and a[0].get("text") for a in answers)
    events = both[1].tracker(me)["events"]
    users = [e["text"] for e in events if e["event"] == "user"]
    assert users[0] == "the bolsheviks banned all the other parties"
    assert sorted(users[1:]) == sorted(burst)
    assert both[0].tracker(me)["events"] == events  # both servers read the same history
    by_text = dict(zip(burst, answers, strict=True))
    check_history(both[1], me, users, parts(opening) + [p for text in users[1:] for p in parts(by_text[text])])


def test_a_restarted_server_carries_on_where_the_student_was(servers, both):
    me = student()
    for part in ("quiz me", "He was outvoted over Brest-Litovsk, so he was no dictator.", "done"):
        both[0].say(me, part)
    both[0].say(me, "lenin was a dictator from day one")
    before = both[0].say(me, "tell me more")[0]["text"]
    rasa = servers[0].processes.pop("rasa")
    rasa.terminate()
    rasa.wait(60)
    servers[0].start_rasa()
    servers[0].wait_ready(360)
    after = both[0].say(me, "tell me more")[0]["text"]
    assert after.startswith(MORE) and after != before
    assert "1 point practised" in both[0].text(me, "how am I doing?")


@pytest.mark.parametrize("store", ["postgres", "redis"])
def test_a_store_going_away_gets_a_clear_reply_and_service_resumes(stores, both, store):
    _, postgres, cache = stores
    proxy = postgres if store == "postgres" else cache
    me = student()
    both[0].say(me, "lenin was a dictator from day one")
    proxy.cut()
    try:
        for client in both:
            status, replies = client.request(
                "POST", "/webhooks/rest/webhook", {"sender": me, "message": "tell me more"}
            )
            assert status == 503, (status, replies)
            assert [r["text"] for r in replies] == [STORE_DOWN]
    finally:
        proxy.restore()
    for client in both:
        assert client.text(me, "tell me more").startswith(MORE)
    users = [e["text"] for e in both[1].tracker(me)["events"] if e["event"] == "user"]
    assert users == ["lenin was a dictator from day one", "tell me more", "tell me more"]
