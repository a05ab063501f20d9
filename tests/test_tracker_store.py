"""The SQLite tracker store keeps conversations exactly as Rasa's does, in WAL mode."""

from __future__ import annotations

import asyncio
import sqlite3

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.paths import ROOT
from bot.tracker_store import TutorSQLTrackerStore


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
