"""Apply the ordered SQL migrations in `sql/`: `python -m coner_api.migrations` (the Procfile's release step).

Each file `NNN_name.sql` runs once, in its own transaction, and is recorded in `schema_migrations`. A session
advisory lock serialises concurrent runs (two releases racing): the second waits, then finds nothing to do.
Hand-written rather than a migration library: the tools that support psycopg 3 bring a DSL or their own lock
table, and the whole job is the thirty lines below.
"""
from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from .config import Config, ConfigError
from .db import connect
from .errors import ApiError

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every release of this app.
ADVISORY_LOCK_KEY = 7_235_086_001
FILE_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")


def default_directory() -> Path:
    """`./sql` when run from a checkout (Heroku runs the release step from the app root), else the
    `sql/` folder beside the package (an editable install)."""
    here = Path.cwd() / "sql"
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "sql"


def pending_files(directory: Path) -> list[Path]:
    files = sorted(p for p in directory.iterdir() if p.suffix == ".sql")
    bad = [p.name for p in files if not FILE_NAME.match(p.name)]
    if bad:
        raise RuntimeError(f"migration file names must look like 001_name.sql: {', '.join(bad)}")
    return files


def migrate(database_url: str, directory: Path | None = None) -> list[str]:
    """Apply every migration not yet recorded; return the versions applied now."""
    files = pending_files(directory or default_directory())
    applied_now: list[str] = []
    with connect(database_url, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {row["version"] for row in conn.execute("SELECT version FROM schema_migrations")}
            for path in files:
                version = path.stem
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text())
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", [version])
                log.info("applied migration %s", version)
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
    return applied_now


def main() -> int:
    """The release step: the app's whole configuration is checked first (a release that passes would otherwise
    go live and crash-loop its web processes), then the migrations. Exit 2: no database URL; 3: the
    configuration is refused; 1: the migrations failed (the cause printed in one line)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # The direct connection when DATABASE_URL is a transaction pooler: the advisory lock is a session's.
    database_url = (os.environ.get("DATABASE_LISTEN_URL", "").strip()
                    or os.environ.get("DATABASE_URL", "").strip())
    if not database_url:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 2
    try:
        Config.from_env()
    except ConfigError as refused:
        print(f"release refused: {refused}", file=sys.stderr)
        return 3
    try:
        applied = migrate(database_url)
    except ApiError as failed:  # the database's own words, not the API's "Database unavailable"
        cause = failed.__cause__ or failed
        print(f"migrations failed: {type(cause).__name__}: {str(cause).strip()}", file=sys.stderr)
        return 1
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
