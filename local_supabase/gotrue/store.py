"""Postgres access for the stand-in: a small psycopg pool pinned to its schema, named queries, transactions.

Queries live in `queries/*.sql` next to this module, as blocks headed `-- name: <query_name>` with `%(param)s`
placeholders (the product's convention); callers name the query and pass a dict.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from importlib import resources
from typing import Any, Iterator

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from .settings import SCHEMA_NAME


def load_queries() -> dict[str, str]:
    """Read every `-- name:` block of the stand-in's queries folder."""
    # A loader of its own rather than coner_api.db's: the stand-in imports nothing from the product.
    queries: dict[str, str] = {}
    folder = resources.files(__package__).joinpath("queries")
    for resource in sorted(folder.iterdir(), key=lambda r: r.name):
        if not resource.name.endswith(".sql"):
            continue
        for block in re.split(r"^-- name: ", resource.read_text(), flags=re.M)[1:]:
            name, _, body = block.partition("\n")
            name = name.strip()
            if name in queries:
                raise RuntimeError(f"query {name!r} is defined twice")
            queries[name] = body.strip()
    return queries


QUERIES = load_queries()


class Tx:
    """One open transaction; every statement is a named query with `%(name)s` parameters."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def one(self, query: str, params: dict[str, Any] | None = None) -> dict | None:
        """The first row of the named query, or None."""
        return self.conn.execute(QUERIES[query], params or {}).fetchone()

    def all(self, query: str, params: dict[str, Any] | None = None) -> list[dict]:
        """Every row of the named query."""
        return self.conn.execute(QUERIES[query], params or {}).fetchall()

    def run(self, query: str, params: dict[str, Any] | None = None) -> int:
        """Execute the named query; return the number of rows it touched."""
        return self.conn.execute(QUERIES[query], params or {}).rowcount


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
        schema = sql.Identifier(self.schema)
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(QUERIES["lock_schema_setup"])
            try:
                conn.execute(sql.SQL(QUERIES["create_schema"]).format(schema=schema))
                conn.execute(sql.SQL(QUERIES["use_schema"]).format(schema=schema))
                conn.execute(ddl)
            finally:
                conn.execute(QUERIES["unlock_schema_setup"])

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
