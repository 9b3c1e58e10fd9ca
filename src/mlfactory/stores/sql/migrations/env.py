"""Alembic environment: migrations run on the connection mlfactory hands over when it opens a store."""

from alembic import context

from mlfactory.stores.sql.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
