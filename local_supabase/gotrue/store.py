"""Postgres access for the stand-in: a small psycopg pool pinned to its schema, and transaction helpers."""
from __future__ import annotations

from contextlib import contextmanager
from importlib import resources
from typing import Any, Iterator

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from .settings import SCHEMA_NAME


class Tx:
    """One open transaction; every statement is parameterised (`%(name)s` placeholders)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def one(self, query: str, params: dict[str, Any] | None = None) -> dict | None:
        """The first row of `query`, or None."""
        return self.conn.execute(query, params or {}).fetchone()

    def all(self, query: str, params: dict[str, Any] | None = None) -> list[dict]:
        """Every row of `query`."""
        return self.conn.execute(query, params or {}).fetchall()

    def run(self, query: str, params: dict[str, Any] | None = None) -> int:
        """Execute `query`; return the number of rows it touched."""
        return self.conn.execute(query, params or {}).rowcount


class Store:
    """The connection pool; `transaction()` hands out a Tx that commits on success."""

    def __init__(self, database_url: str, schema: str) -> None:
        if not SCHEMA_NAME.match(schema):
            raise ValueError(f"unsafe schema name {schema!r}")
        self.database_url = database_url
        self.schema = schema
        self.pool = ConnectionPool(
            database_url, min_size=1, max_size=8, open=False, check=ConnectionPool.check_connection,
            kwargs={"row_factory": dict_row, "options": f"-c search_path={schema}"})

    def migrate(self) -> None:
        """Create the schema and its tables if they are missing (safe to run at every start)."""
        ddl = resources.files(__package__).joinpath("schema.sql").read_text()
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            # Advisory lock: several stand-ins may start against one database at the same moment.
            conn.execute("SELECT pg_advisory_lock(hashtext('coner_local_auth_server'))")
            try:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
                conn.execute(ddl)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext('coner_local_auth_server'))")

    def open(self) -> "Store":
        """Open the pool (waiting for the first connection)."""
        self.pool.open(wait=True, timeout=30)
        return self

    def close(self) -> None:
        """Close the pool and its connections."""
        self.pool.close()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A Tx inside one transaction: commit when the block ends, roll back when it raises."""
        with self.pool.connection() as conn:
            with conn.transaction():
                yield Tx(conn)
