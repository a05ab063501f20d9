"""Rasa's SQL tracker store, with the SQLite file set up for a server rather than a script.

Rasa opens a new SQLite connection for every read and every write of a conversation and
commits in SQLite's default rollback-journal mode, which syncs the journal and the database on
every commit. Under a class's load that was a quarter of the Rasa server's time (cProfile of
`make bench`), all of it blocking the one event loop. Here the connection is kept (one per
thread, which is the event loop's) and the database uses write-ahead logging with
``synchronous=FULL``: each commit is still on disk when it returns, with one sync instead of
several. PostgreSQL is left exactly as Rasa sets it up.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.pool import SingletonThreadPool

#: journal_mode=WAL persists in the file; the other two hold per connection.
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=10000")


def _configure_sqlite(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


class TutorSQLTrackerStore(SQLTrackerStore):
    """Configured in endpoints.yml as ``type: bot.tracker_store.TutorSQLTrackerStore``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            self.engine.dispose()
            self.engine = sa.create_engine(self.engine.url, poolclass=SingletonThreadPool)
            sa.event.listen(self.engine, "connect", _configure_sqlite)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
