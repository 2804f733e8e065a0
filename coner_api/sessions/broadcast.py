"""Cache purges broadcast to every API process over Postgres LISTEN/NOTIFY, with acknowledgements.

Each process keeps one listening connection (application_name `coner-cache-listener`). A revocation sends
one notification and then waits until every listener connected at that moment has acknowledged it, so that
when `POST /auth/logout-all` answers 204, no worker of any process can still accept the old tokens from its
cache. A process whose listener is disconnected does not trust its caches at all (`Listener.connected`), so
a purge it missed cannot leave stale entries behind: it reads Postgres until the listener is back, and
clears its caches on reconnecting.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Callable

from ..db import Database, connect, translated_errors
from ..errors import ApiError

log = logging.getLogger(__name__)

CHANNEL = "coner_cache_purge"
ACK_CHANNEL = "coner_cache_purge_ack"
LISTENER_NAME = "coner-cache-listener"
ACK_TIMEOUT = 3.0


class Listener:
    """A daemon thread that applies purge messages from every process and acknowledges them."""

    def __init__(self, database_url: str, db: Database, on_message: Callable[[str], None],
                 on_disconnect: Callable[[], None]) -> None:
        self.database_url = database_url
        self.db = db
        self.on_message = on_message
        self.on_disconnect = on_disconnect
        self.listener_id = uuid.uuid4().hex
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coner-cache-listener", daemon=True)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)

    def _run(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                with connect(self.database_url, application_name=LISTENER_NAME, connect_timeout=3,
                             keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Anything purged while we were away is unknown: start from empty caches.
                    self.on_disconnect()
                    self._connected.set()
                    backoff = 0.2
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._handle(note.payload)
            except Exception as exc:  # noqa: BLE001 - any failure means "reconnect"; never kill the thread
                if not self._stopping.is_set():
                    log.warning("cache listener disconnected: %s", exc)
            finally:
                self._connected.clear()
                self.on_disconnect()
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _handle(self, payload: str) -> None:
        event_id, _, message = payload.partition("|")
        self.on_message(message)
        try:
            self.db.execute("notify", {"channel": ACK_CHANNEL, "payload": f"{event_id}|{self.listener_id}"})
        except ApiError as exc:
            log.warning("could not acknowledge cache purge %s: %s", event_id, exc)


def broadcast(db: Database, message: str, timeout: float = ACK_TIMEOUT) -> bool:
    """Send `message` to every process's listener and wait for all of them to acknowledge it.

    Returns False (and logs) if some listener did not answer in time: it has died or lost its connection,
    and a process without a live listener does not trust its caches anyway."""
    event_id = uuid.uuid4().hex
    with db.connection() as conn, translated_errors():
        conn.execute(f"LISTEN {ACK_CHANNEL}")
        try:
            # Counted before sending: a listener that connects later starts with empty caches.
            expected = db.fetch_one("count_cache_listeners", {"application_name": LISTENER_NAME},
                                    conn=conn)["listeners"]
            db.execute("notify", {"channel": CHANNEL, "payload": f"{event_id}|{message}"}, conn=conn)
            acked: set[str] = set()
            deadline = time.monotonic() + timeout
            while len(acked) < expected:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning("cache purge %s: %d of %d listeners acknowledged", event_id, len(acked), expected)
                    return False
                for note in conn.notifies(timeout=remaining, stop_after=1):
                    acked_event, _, listener_id = note.payload.partition("|")
                    if acked_event == event_id:
                        acked.add(listener_id)
            return True
        finally:
            conn.execute(f"UNLISTEN {ACK_CHANNEL}")
