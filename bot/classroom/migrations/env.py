"""Alembic environment: runs on the connection ``bot.classroom.db.migrate`` passes in."""

from alembic import context

from bot.classroom.db import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
