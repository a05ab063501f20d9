"""Rasa's SQL tracker store, set up for a server rather than a script.

Two things Rasa 3.6's ``SQLTrackerStore`` does on every message cost the one event loop,
and so every student, time for nothing (profiled under ``make bench``):

- SQLite: a new connection for every read and write, and a commit in rollback-journal mode
  that syncs the journal and the database. Here the connection is kept and the file uses
  write-ahead logging with ``synchronous=FULL``: each commit is still on disk when it
  returns, with one sync instead of several.
- Every message reads the whole conversation back (SQL, then JSON), and every save counts
  the stored events with a subquery, to find which events are new. Here the latest session's
  stored rows are kept per conversation, and trusted only while the database's newest event
  id for that conversation is the one last seen, so another server's write (or any other
  change) is noticed and the conversation read again exactly as Rasa reads it. The kept rows
  are the stored JSON already decoded, in ``marshal`` form, which reads back in half the
  time of the JSON (3.5 ms, not 7, for a 200-turn conversation).
- Rebuilding the tracker from those rows replays every event of the conversation, each turn
  (about a fifth of the Rasa server's time late in a 200-turn conversation, py-spy under
  ``make bench``). The tracker a save was given is kept with the rows and lent to the next
  retrieve of that conversation instead, once: it is the tracker Rasa would rebuild, since its
  events are the stored rows. It is lent only while the rows are current (the newest id
  check above), while it still has exactly the events that were saved (a turn that failed
  before its save leaves it longer, and it is not lent again), and to the domain it was built
  for; a tracker is lent to one caller at a time, so two readers never share one.

What is read back is the same as Rasa's: the same rows, as the same JSON decodes them.
"""

from __future__ import annotations

import itertools
import json
import marshal
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.pool import SingletonThreadPool

#: journal_mode=WAL persists in the file; the other two hold per connection.
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=10000")
#: Bytes of rows kept for recent conversations; the least recently used conversation is
#: dropped first and is read from the database next time.
CACHE_BYTES = 64 * 1024 * 1024
#: A kept tracker's memory, as a multiple of its rows' marshalled bytes, counted in the budget
#: (measured: 4.2 MB against 1.3 MB for a 1,838-event conversation).
TRACKER_COST = 3


def _configure_sqlite(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


@dataclass
class _Session:
    """One conversation's latest session as stored: its rows (marshalled), and what proves it current."""

    last_id: int
    rows: list[bytes] = field(default_factory=list)
    session_start: float | None = None
    size: int = 0  # the rows' bytes, and the kept tracker's estimated cost while there is one
    tracker: DialogueStateTracker | None = None  # the last saved, until it is lent
    domain: Any = None  # the domain ``tracker`` was saved under
    tracker_bytes: int = 0


class TutorSQLTrackerStore(SQLTrackerStore):
    """Configured in the endpoints files as ``type: bot.server.tracker_store.TutorSQLTrackerStore``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            self.engine.dispose()
            self.engine = sa.create_engine(self.engine.url, poolclass=SingletonThreadPool)
            sa.event.listen(self.engine, "connect", _configure_sqlite)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._cached_bytes = 0
        self._cache_lock = threading.Lock()
        self._newest_id_query: Any = None

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session, as Rasa's store returns it."""
        lent = self._lend(sender_id)
        if lent is not None:
            return lent
        events = self._latest_session_events(sender_id)
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the events the database does not have yet, as Rasa's store does."""
        await self.stream_events(tracker)
        self._save_new_events(tracker)

    def _newest_id(self, session: Any, sender_id: str) -> int | None:
        if self._newest_id_query is None:
            event = self.SQLEvent
            self._newest_id_query = sa.select(sa.func.max(event.id)).where(event.sender_id == sa.bindparam("sender"))
        return session.execute(self._newest_id_query, {"sender": sender_id}).scalar()

    def _current(self, session: Any, sender_id: str) -> _Session | None:
        with self._cache_lock:
            cached = self._sessions.get(sender_id)
        if cached is not None and self._newest_id(session, sender_id) == cached.last_id:
            with self._cache_lock:
                self._sessions.move_to_end(sender_id)
            return cached
        self._forget(sender_id)
        return None

    def _lend(self, sender_id: str) -> DialogueStateTracker | None:
        with self._cache_lock:
            cached = self._sessions.get(sender_id)
            tracker = cached.tracker if cached is not None else None
        if tracker is None:
            return None
        with self.session_scope() as session:
            cached = self._current(session, sender_id)
        with self._cache_lock:
            if cached is None or cached.tracker is not tracker or self._sessions.get(sender_id) is not cached:
                return None
            self._drop_tracker(cached)
            if cached.domain is not self.domain or len(tracker.events) != len(cached.rows):
                return None
        return tracker

    def _latest_session_events(self, sender_id: str) -> list[dict[str, Any]]:
        """Each call gets its own dicts: the kept rows are marshalled, never shared."""
        with self.session_scope() as session:
            cached = self._current(session, sender_id)
            if cached is not None:
                return [marshal.loads(row) for row in cached.rows]
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            event = self.SQLEvent
            rows = query.with_entities(event.id, event.type_name, event.timestamp, event.data).all()
        events = [json.loads(data) for _, _, _, data in rows]
        if rows:
            starts = [timestamp for _, kind, timestamp, _ in rows if kind == SessionStarted.type_name]
            self._keep(sender_id, _Session(last_id=max(r[0] for r in rows), rows=[marshal.dumps(e) for e in events],
                                           session_start=max(starts) if starts else None))
        return events

    def _save_new_events(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        with self.session_scope() as session:
            cached = self._current(session, sender_id)
            stored = len(cached.rows) if cached is not None else self._event_query(
                session, sender_id, fetch_events_from_all_sessions=False
            ).count()
            added = []
            for event in itertools.islice(tracker.events, stored, len(tracker.events)):
                data = event.as_dict()
                row = self.SQLEvent(
                    sender_id=sender_id,
                    type_name=event.type_name,
                    timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"),
                    data=json.dumps(data),
                )
                session.add(row)
                added.append(row)
            session.flush()
            written = [(row.id, row.type_name, row.timestamp, row.data) for row in added]
            session.commit()
        if cached is None:
            return
        if not written:
            self._keep_tracker(cached, tracker)
            return
        if any(kind == SessionStarted.type_name for _, kind, _, _ in written) or (
            cached.session_start is not None
            and any(timestamp is None or timestamp < cached.session_start for _, _, timestamp, _ in written)
        ):
            self._forget(sender_id)  # a new session, or rows Rasa's query would leave out: read it again
            return
        with self._cache_lock:
            rows = [marshal.dumps(json.loads(data)) for _, _, _, data in written]
            cached.rows.extend(rows)
            cached.last_id = written[-1][0]
            grown = sum(len(row) for row in rows)
            cached.size += grown
            self._cached_bytes += grown
            self._trim()
        self._keep_tracker(cached, tracker)

    def _keep_tracker(self, cached: _Session, tracker: DialogueStateTracker) -> None:
        """Keep the saved tracker to lend, if it is exactly the stored rows (see the module's notes)."""
        if tracker._max_event_history is not None or self.domain is None:
            return
        with self._cache_lock:
            if self._sessions.get(tracker.sender_id) is cached and len(tracker.events) == len(cached.rows):
                self._drop_tracker(cached)
                cached.tracker, cached.domain = tracker, self.domain
                cached.tracker_bytes = TRACKER_COST * cached.size
                cached.size += cached.tracker_bytes
                self._cached_bytes += cached.tracker_bytes
                self._trim()

    def _drop_tracker(self, cached: _Session) -> None:
        """Called with the cache lock held, for an entry that is in the cache."""
        cached.tracker = None
        cached.size -= cached.tracker_bytes
        self._cached_bytes -= cached.tracker_bytes
        cached.tracker_bytes = 0

    def _keep(self, sender_id: str, entry: _Session) -> None:
        entry.size = sum(len(row) for row in entry.rows)
        with self._cache_lock:
            old = self._sessions.pop(sender_id, None)
            self._cached_bytes += entry.size - (old.size if old else 0)
            self._sessions[sender_id] = entry
            self._trim()

    def _forget(self, sender_id: str) -> None:
        with self._cache_lock:
            old = self._sessions.pop(sender_id, None)
            if old is not None:
                self._cached_bytes -= old.size

    def _trim(self) -> None:
        while self._cached_bytes > CACHE_BYTES and self._sessions:
            _, oldest = self._sessions.popitem(last=False)
            self._cached_bytes -= oldest.size
