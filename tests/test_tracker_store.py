"""The SQLite tracker store keeps conversations exactly as Rasa's does, in WAL mode."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.server.tracker_store import TutorSQLTrackerStore
from bot.settings import ROOT


def test_conversations_round_trip_and_the_file_is_in_wal_mode(tmp_path):
    domain = Domain.load(str(ROOT / "domain.yml"))
    path = tmp_path / "tracker.db"
    store = TutorSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))
    tracker = DialogueStateTracker.from_events("ana", [
        ActionExecuted("action_listen"),
        UserUttered("lenin was a dictator", {"name": "claim_authoritarian_personality", "confidence": 0.9}),
        SlotSet("shown_passages", ["p1"]),
        BotUttered("That's point 1"),
    ], slots=domain.slots)

    async def round_trip() -> DialogueStateTracker:
        await store.save(tracker)
        tracker.update(UserUttered("tell me more", {"name": "tell_more", "confidence": 1.0}))
        await store.save(tracker)  # only the new event is added
        return await TutorSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path)).retrieve("ana")

    back = asyncio.run(round_trip())
    assert [e.as_dict()["event"] for e in back.events][-5:] == ["action", "user", "slot", "bot", "user"]
    assert back.get_slot("shown_passages") == ["p1"]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT count(*) FROM events WHERE sender_id='ana'").fetchone()[0] == 5


# The kept sessions: whatever happens to the database, a retrieve returns what Rasa's own
# store returns from the same file, and a save adds exactly the events the file lacks.

from rasa.core.tracker_store import SQLTrackerStore  # noqa: E402
from rasa.shared.core.events import SessionStarted  # noqa: E402

from bot.server import tracker_store as tracker_store_module  # noqa: E402


def _turn(tracker: DialogueStateTracker, n: int) -> None:
    tracker.update(UserUttered(f"claim {n}", {"name": "claim_authoritarian_personality", "confidence": 0.9}))
    tracker.update(ActionExecuted("action_rebut_claim"))
    tracker.update(SlotSet("shown_passages", [f"p{n}"]))
    tracker.update(BotUttered(f"answer {n}"))
    tracker.update(ActionExecuted("action_listen"))


def _as_rasa_reads(domain: Domain, path, sender: str) -> list[dict]:
    back = asyncio.run(SQLTrackerStore(domain=domain, dialect="sqlite", db=str(path)).retrieve(sender))
    return [e.as_dict() for e in back.events] if back else []


@pytest.fixture()
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def _started(domain: Domain, sender: str) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(
        sender, [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")],
        slots=domain.slots,
    )


def test_a_kept_session_reads_back_as_rasa_reads_the_file(domain, tmp_path):
    path = tmp_path / "tracker.db"
    store = TutorSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))

    async def conversation() -> list[dict]:
        tracker = _started(domain, "ana")
        await store.save(tracker)
        for n in range(4):
            tracker = await store.retrieve("ana")
            _turn(tracker, n)
            await store.save(tracker)
        return [e.as_dict() for e in (await store.retrieve("ana")).events]

    ours = asyncio.run(conversation())
    assert "ana" in store._sessions  # served from the kept rows, not read again
    assert ours == _as_rasa_reads(domain, path, "ana")
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM events WHERE sender_id='ana'").fetchone()[0] == 3 + 4 * 5


def test_another_writer_is_noticed(domain, tmp_path):
    """A second server (here: a second store on the same file) adds a turn: the first sees it."""
    path = tmp_path / "tracker.db"
    first = TutorSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))
    second = TutorSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))

    async def run() -> tuple[list[dict], list[dict]]:
        tracker = _started(domain, "ben")
        await first.save(tracker)
        tracker = await first.retrieve("ben")
        _turn(tracker, 1)
        await first.save(tracker)
        elsewhere = await second.retrieve("ben")
        _turn(elsewhere, 2)
        await second.save(elsewhere)
        here = await first.retrieve("ben")  # kept rows are stale now
        _turn(here, 3)
        await first.save(here)
        return [e.as_dict() for e in here.events], [e.as_dict() for e in (await second.retrieve("ben")).events]

    here, there = asyncio.run(run())
    assert [e["text"] for e in here if e["event"] == "bot"] == ["answer 1", "answer 2", "answer 3"]
    assert there == here == _as_rasa_reads(domain, path, "ben")


def test_a_new_session_is_read_as_rasa_reads_it(domain, tmp_path):
    path = tmp_path / "tracker.db"
    store = TutorSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))

    async def run() -> list[dict]:
        tracker = _started(domain, "cy")
        await store.save(tracker)
        tracker = await store.retrieve("cy")
        _turn(tracker, 1)
        tracker.update(ActionExecuted("action_session_start"))
        tracker.update(SessionStarted())
        tracker.update(ActionExecuted("action_listen"))
        _turn(tracker, 2)
        await store.save(tracker)
        return [e.as_dict() for e in (await store.retrieve("cy")).events]

    ours = asyncio.run(run())
    assert ours == _as_rasa_reads(domain, path, "cy")
    assert [e["text"] for e in ours if e["event"] == "bot"] == ["answer 2"]  # the latest session only


def test_conversations_beyond_the_budget_are_read_from_the_file(domain, tmp_path, monkeypatch):
    monkeypatch.setattr(tracker_store_module, "CACHE_BYTES", 20000)
    path = tmp_path / "tracker.db"
    store = TutorSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))
    senders = [f"student-{i}" for i in range(6)]

    async def run() -> None:
        for sender in senders:
            await store.save(_started(domain, sender))
        for n in range(3):
            for sender in senders:
                tracker = await store.retrieve(sender)
                _turn(tracker, n)
                await store.save(tracker)

    asyncio.run(run())
    assert 0 < store._cached_bytes <= 20000
    assert store._cached_bytes == sum(entry.size for entry in store._sessions.values())
    kept = [entry for entry in store._sessions.values() if entry.tracker is not None]
    assert kept and all(entry.tracker_bytes == tracker_store_module.TRACKER_COST * sum(len(r) for r in entry.rows)
                        for entry in kept)  # a kept tracker counts against the budget
    assert len(store._sessions) < len(senders)
    for sender in senders:
        assert [e.as_dict() for e in asyncio.run(store.retrieve(sender)).events] == _as_rasa_reads(domain, path, sender)


# The lent tracker: the one a save was given comes back to the next retrieve, once, while it is
# exactly what the file holds; anything else gets the tracker rebuilt as Rasa rebuilds it.


async def _rasa_reads(domain: Domain, path, sender: str) -> list[dict]:
    back = await SQLTrackerStore(domain=domain, dialect="sqlite", db=str(path)).retrieve(sender)
    return [e.as_dict() for e in back.events] if back else []


def test_the_saved_tracker_is_lent_to_the_next_turn_and_reads_as_rasa_reads(domain, tmp_path):
    path = tmp_path / "tracker.db"
    store = TutorSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))

    async def run() -> None:
        tracker = _started(domain, "dee")
        await store.save(tracker)
        tracker = await store.retrieve("dee")  # read from the file: nothing to lend yet
        for n in range(5):
            _turn(tracker, n)
            await store.save(tracker)
            back = await store.retrieve("dee")
            assert back is tracker
            assert [e.as_dict() for e in back.events] == await _rasa_reads(domain, path, "dee")
            rebuilt = await SQLTrackerStore(domain=domain, dialect="sqlite", db=str(path)).retrieve("dee")
            assert back.current_state() == rebuilt.current_state()
        second = await store.retrieve("dee")  # lent already: this caller gets its own
        assert second is not tracker and [e.as_dict() for e in second.events] == await _rasa_reads(domain, path, "dee")

    asyncio.run(run())


def test_a_tracker_grown_without_a_save_is_not_lent(domain, tmp_path):
    """A turn that failed before its save: the next turn reads the file, not the half-done tracker."""
    path = tmp_path / "tracker.db"
    store = TutorSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))

    async def run() -> list[dict]:
        tracker = _started(domain, "eve")
        await store.save(tracker)
        tracker = await store.retrieve("eve")
        _turn(tracker, 1)
        await store.save(tracker)
        lent = await store.retrieve("eve")
        _turn(lent, 2)  # never saved
        back = await store.retrieve("eve")
        assert back is not lent
        return [e.as_dict() for e in back.events]

    events = asyncio.run(run())
    assert events == _as_rasa_reads(domain, path, "eve")
    assert [e["text"] for e in events if e["event"] == "bot"] == ["answer 1"]


def test_a_tracker_is_not_lent_across_a_new_domain_or_another_writer(domain, tmp_path):
    path = tmp_path / "tracker.db"
    store = TutorSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))
    other = TutorSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))

    async def run() -> None:
        tracker = _started(domain, "fay")
        await store.save(tracker)
        tracker = await store.retrieve("fay")
        _turn(tracker, 1)
        await store.save(tracker)
        store.domain = Domain.load(str(ROOT / "domain.yml"))  # a model swap
        assert await store.retrieve("fay") is not tracker
        tracker = await store.retrieve("fay")
        _turn(tracker, 2)
        await store.save(tracker)
        elsewhere = await other.retrieve("fay")
        _turn(elsewhere, 3)
        await other.save(elsewhere)
        back = await store.retrieve("fay")
        assert back is not tracker
        assert [e.as_dict() for e in back.events] == await _rasa_reads(domain, path, "fay")

    asyncio.run(run())
