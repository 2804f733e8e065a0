"""Cache purges broadcast to every API process over Postgres LISTEN/NOTIFY, acknowledged, and a proof of life
that tells each process whether it may trust its caches at all (docs/architecture.md, "Caches").

Each process keeps one listening connection (application name `coner-cache-listener`), to
`DATABASE_LISTEN_URL` when set, else `DATABASE_URL`. A revocation sends one notification and waits until every
process that may be trusting its caches has applied and acknowledged it, or for `ACK_TIMEOUT` at most. A
logout can answer after the timeout without every acknowledgement because of the proof of life:

- Every `HEARTBEAT_INTERVAL` a process sends a heartbeat notification (on a pooled connection) and notes when
  it sent it. Its caches are trusted only while the newest of its own heartbeats that came back to its
  listener was sent less than `TRUST_WINDOW` ago. Every listener hears every process's heartbeats, which is
  how a broadcast knows whose acknowledgement to wait for: each process heard from within `TRUST_WINDOW`.
- Notifications reach a listener in commit order. So a listener that received a heartbeat sent after a purge
  was committed has received, and applied, that purge first; one that did not has a newest proof older than
  the purge, and stops trusting its caches within `TRUST_WINDOW` of it. `ACK_TIMEOUT` is longer than
  `TRUST_WINDOW`: when a broadcast stops waiting, every process either applied the purge or reads Postgres.
- A listener whose link died silently (a dead peer, a black hole), one that cannot connect, and one behind a
  transaction pooler (PgBouncer in transaction mode, Supabase's pooler on port 6543: notifications never come
  back) all simply never prove themselves: their processes read Postgres on every request. The last is
  logged as a warning naming `DATABASE_LISTEN_URL`, the fix.
- A write whose change a cache holds sends its purge in its own statement (`write_announced`), so the purge
  commits with the change or not at all (profiles/cache.py), then waits like any broadcast.
- A listener acknowledges every purge of one network packet in one notification (`<id>,<id>|<listener>`),
  and its own process's purges in memory, without a round trip: under a burst of writes each costs less than
  one notification. (A process of an older release reads only single acknowledgements: during a rolling
  deploy its broadcasts may wait out `ACK_TIMEOUT`, which the proof of life keeps safe.)
- A write whose cache also checks write stamps shared by the workers of one server (shared_stamps.py: the
  profile cache) sends its purge with a stamped event id, `<group>.<id>`: the sibling processes of its
  group already refuse what the write made stale, so the broadcast waits only for the processes of other
  groups (other servers, other dynos), and a listener does not acknowledge its own group's stamped purges
  (it still applies them). On one server such a write waits for nobody.
- A listener that reconnects clears its caches first: whatever was purged while it was away is unknown.
  Then `on_connect` loads the state afresh on the listening connection itself, after LISTEN: a change
  committed later is announced to it, one committed earlier is in what it reads (sessions/recent.py).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Callable, TypeVar

from ..observability import metrics
from ..db import Connection, Database, connect
from ..errors import ApiError

log = logging.getLogger(__name__)
T = TypeVar("T")

CHANNEL = "coner_cache_purge"
ACK_CHANNEL = "coner_cache_purge_ack"
ALIVE_CHANNEL = "coner_cache_alive"
GONE = "gone"  # the heartbeat number of a process that stops (Listener.stop)
LISTENER_NAME = "coner-cache-listener"
HEARTBEAT_INTERVAL = 0.5
TRUST_WINDOW = 2.5
ACK_TIMEOUT = TRUST_WINDOW + 0.5
# A connection that has proven nothing for this long is dropped and made again (a silently dead link).
RECONNECT_AFTER = 2 * TRUST_WINDOW
# How long a new connection may stay silent before the likely cause (a transaction pooler) is logged.
NO_PROOF_WARNING = 10.0
MAX_BACKOFF = 30.0
# Between attempts while Postgres cannot be reached: until the listener is back, every logout and profile
# write waits out ACK_TIMEOUT, so it must be back within a moment of Postgres (with MAX_BACKOFF: up to 30 s).
OUTAGE_BACKOFF = 1.0
# Event ids (32 hex digits and a comma) in one acknowledgement: well under NOTIFY's 8,000-byte payload limit.
ACKS_PER_NOTIFICATION = 200


class _Silent(Exception):
    """The listening connection proved nothing for RECONNECT_AFTER: treated as dead."""


class _Acks:
    """The acknowledgements one broadcast waits for."""

    def __init__(self) -> None:
        self.listeners: set[str] = set()
        self.changed = threading.Condition()


class Listener:
    """A daemon thread that applies purge messages from every process and acknowledges them, and a second one
    that sends this process's heartbeats. `trusted` says whether the caches may be used."""

    def __init__(self, listen_url: str, db: Database, on_message: Callable[[str], None],
                 on_disconnect: Callable[[], None], on_connect: Callable[[Connection], None] | None = None,
                 group: str | None = None) -> None:
        self.listen_url = listen_url
        self.db = db
        self.on_message = on_message
        self.on_disconnect = on_disconnect
        self.on_connect = on_connect
        self._subscribers: dict[str, tuple[Callable[[str], None], Callable[[], None]]] = {}
        # `<group>.<id>`: the group of processes sharing write stamps with this one (shared_stamps.py)
        self.group = group or uuid.uuid4().hex
        self._siblings = f"{self.group}."
        self.listener_id = self._siblings + uuid.uuid4().hex
        self._proven_at: float | None = None  # send time of the newest heartbeat of ours that came back
        self._sent: dict[str, float] = {}  # our heartbeats in flight: number -> send time
        self._heard: dict[str, float] = {}  # listener id -> when its latest heartbeat arrived here
        self._sent_lock = threading.Lock()
        self._acks: dict[str, _Acks] = {}  # event id -> acknowledgements of a broadcast of this process
        self._stopping = threading.Event()
        self._proof = threading.Event()
        self._beat_now = threading.Event()  # a new connection asks for a heartbeat at once: trust in ms, not 0.5 s
        self._thread = threading.Thread(target=self._run, name="coner-cache-listener", daemon=True)
        self._heart = threading.Thread(target=self._beat, name="coner-cache-heartbeat", daemon=True)

    @property
    def trusted(self) -> bool:
        """Whether this process may answer from its revocation caches (see the module docstring)."""
        proven = self._proven_at
        return proven is not None and time.monotonic() - proven < TRUST_WINDOW

    def subscribe(self, kind: str, on_message: Callable[[str], None], on_disconnect: Callable[[], None]) -> None:
        """Hand messages `<kind>:...` to `on_message` rather than to the revocation caches, and call
        `on_disconnect` whenever theirs is (another cache purged through the same broadcast: mfa/status.py,
        profiles/cache.py).
        Subscribe at start-up; until then such a message would clear the revocation caches, which is safe."""
        self._subscribers[kind] = (on_message, on_disconnect)

    def _cleared(self) -> None:
        self.on_disconnect()
        for _, on_disconnect in self._subscribers.values():
            on_disconnect()

    def start(self) -> None:
        self._thread.start()
        self._heart.start()

    def wait_trusted(self, timeout: float) -> bool:
        """Wait until a heartbeat has come back (tests, start-up checks)."""
        return self._wait_for(lambda: self.trusted, timeout)

    def wait_caught_up(self, timeout: float) -> bool:
        """Wait until this listener has applied every notification committed before the call: a heartbeat of
        ours sent after it came back, and notifications arrive in commit order (tests: a purge of this
        process's own write reaches its listener asynchronously)."""
        since = time.monotonic()
        self._beat_now.set()
        return self._wait_for(lambda: (self._proven_at or since) > since, timeout)

    def _wait_for(self, proven: Callable[[], bool], timeout: float) -> bool:
        """Wait, woken by each heartbeat of ours that comes back, until `proven()`; False at the timeout or
        on stop."""
        deadline = time.monotonic() + timeout
        while not proven():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping.is_set():
                return False
            self._proof.wait(min(remaining, HEARTBEAT_INTERVAL))
            self._proof.clear()
        return True

    def stop(self, announce: bool = True) -> None:
        """Stop listening. `announce`: first tell the other processes that this one is gone (a heartbeat
        `<id>|gone`), so that their writes stop waiting for its acknowledgement: a process stopping holds no
        caches any more (it trusts none once its listener stops). Without it, every write of every other
        process waited out ACK_TIMEOUT while a server restarted (an audit: logouts of 3 s during a reload).
        A process that dies without a word is still waited for, as it must be."""
        listening = self._thread.is_alive()
        self._stopping.set()
        self._beat_now.set()
        self._heart.join(5)  # first: no heartbeat of ours may follow the goodbye
        if announce and listening:
            try:
                self.db.execute("notify", {"channel": ALIVE_CHANNEL, "payload": f"{self.listener_id}|{GONE}"})
            except ApiError:
                pass  # Postgres unreachable: the others wait out their timeout, as for a silent death
        self._thread.join(5)

    # ------------------------------------------------------------------------------- listening thread
    def _run(self) -> None:
        backoff = 0.2
        started = time.monotonic()
        proven_ever = warned = False
        while not self._stopping.is_set():
            proven_here = silent = False
            try:
                # The pool's connection class, with its deadline on each round trip (LISTEN, the state loaded
                # on connect): a link gone silent with its kernel still answering keepalives would hold them
                # for good (query_deadlines.py); notifies() brings its own timeout.
                with connect(self.listen_url, self.db.pool.connection_class, application_name=LISTENER_NAME,
                             connect_timeout=3, keepalives=1, keepalives_idle=5, keepalives_interval=2,
                             keepalives_count=2) as conn:
                    for channel in (CHANNEL, ACK_CHANNEL, ALIVE_CHANNEL):
                        conn.execute(f"LISTEN {channel}")
                    # Anything purged while we were away is unknown: start from empty caches, then load the
                    # state afresh on this connection (a change committed from now on will be announced to it).
                    self._cleared()
                    if self.on_connect is not None:
                        self.on_connect(conn)
                    connected_at = time.monotonic()
                    self._beat_now.set()
                    while not self._stopping.is_set():
                        # One packet at a time (stop_after=1), so that the purges it holds are acknowledged
                        # together: under a burst of writes, one NOTIFY answers many.
                        applied: list[str] = []
                        for note in conn.notifies(timeout=HEARTBEAT_INTERVAL / 2, stop_after=1):
                            if note.channel == ALIVE_CHANNEL:
                                proven_here = self._heartbeat(note.payload) or proven_here
                            elif note.channel == ACK_CHANNEL:
                                self._acknowledged(note.payload)
                            else:
                                applied.append(self._purge(note.payload))
                        if applied:
                            self._acknowledge(applied)
                        now = time.monotonic()
                        proven_ever = proven_ever or proven_here
                        last = self._proven_at if proven_here and self._proven_at is not None else connected_at
                        if not proven_ever and not warned and now - started > NO_PROOF_WARNING:
                            warned = True
                            log.warning("cache purge notifications do not arrive on the LISTEN connection, so this "
                                        "process keeps no revocation caches and reads Postgres on every request. "
                                        "Is DATABASE_URL a transaction pooler (PgBouncer in transaction mode, "
                                        "Supabase's pooler on port 6543)? Set DATABASE_LISTEN_URL to a direct "
                                        "connection to the same database.")
                        if now - last > RECONNECT_AFTER:
                            raise _Silent()
            except Exception as exc:  # noqa: BLE001 - any failure means "reconnect"; never kill the thread
                silent = isinstance(exc, _Silent)
                if not self._stopping.is_set() and not silent:
                    log.warning("cache listener disconnected: %s", exc)
                elif isinstance(exc, _Silent) and proven_here:
                    log.warning("cache listener heard nothing for %.0f s; reconnecting", RECONNECT_AFTER)
            finally:
                self._proven_at = None
                self._heard.clear()
                self._cleared()
            # A connection that proved itself was fine until now: retry soon. One that connected but never
            # proved itself (a pooler, a black hole) is retried ever more slowly; one that failed (Postgres
            # down or restarting) every OUTAGE_BACKOFF at most, to be back as soon as Postgres is.
            if proven_here:
                backoff = 0.2
            else:
                backoff = min(backoff * 2, MAX_BACKOFF if silent else OUTAGE_BACKOFF)
            self._stopping.wait(backoff)

    def _heartbeat(self, payload: str) -> bool:
        """Note who is alive; True when the heartbeat is one of ours (a proof for this connection)."""
        sender, _, number = payload.partition("|")
        if number == GONE:
            if sender != self.listener_id:
                self._heard.pop(sender, None)
                for acks in list(self._acks.values()):  # writes waiting now stop waiting for it
                    with acks.changed:
                        acks.listeners.add(sender)
                        acks.changed.notify_all()
            return False
        now = time.monotonic()
        self._heard[sender] = now
        for gone in [key for key, heard_at in self._heard.items() if now - heard_at > 2 * TRUST_WINDOW]:
            del self._heard[gone]
        if sender != self.listener_id:
            return False
        with self._sent_lock:
            sent_at = self._sent.pop(number, None)
        if sent_at is None:
            return False
        if self._proven_at is None or sent_at > self._proven_at:
            self._proven_at = sent_at
        self._proof.set()
        return True

    def _purge(self, payload: str) -> str:
        """Apply a purge; its event id."""
        event_id, _, message = payload.partition("|")
        subscriber = self._subscribers.get(message.partition(":")[0])
        (subscriber[0] if subscriber is not None else self.on_message)(message)
        return event_id

    def _acknowledge(self, event_ids: list[str]) -> None:
        """Tell the senders that these purges are applied here: our own broadcasts in memory (no round trip
        for them), the others in as few notifications as their payload limit allows."""
        others = []
        for event_id in event_ids:
            if event_id.startswith(self._siblings):
                continue  # a stamped write of our own group: nobody waits for us (see the module docstring)
            if event_id in self._acks:
                self._acknowledged(f"{event_id}|{self.listener_id}")
            else:
                others.append(event_id)
        for start in range(0, len(others), ACKS_PER_NOTIFICATION):
            batch = ",".join(others[start:start + ACKS_PER_NOTIFICATION])
            try:
                self.db.execute("notify", {"channel": ACK_CHANNEL, "payload": f"{batch}|{self.listener_id}"})
            except ApiError as exc:  # the purge is applied; the broadcast's timeout covers a lost acknowledgement
                log.warning("could not acknowledge cache purges %s: %s", batch, exc)

    def _acknowledged(self, payload: str) -> None:
        """`<event id>[,<event id>...]|<listener id>`: that listener applied those purges."""
        event_ids, _, listener_id = payload.partition("|")
        for event_id in event_ids.split(","):
            acks = self._acks.get(event_id)
            if acks is not None:
                with acks.changed:
                    acks.listeners.add(listener_id)
                    acks.changed.notify_all()

    # ------------------------------------------------------------------------------- heartbeat thread
    def _beat(self) -> None:
        counter = 0
        while not self._stopping.is_set():
            self._beat_now.wait(HEARTBEAT_INTERVAL)
            self._beat_now.clear()
            if self._stopping.is_set():
                return
            counter += 1
            payload = str(counter)
            now = time.monotonic()
            with self._sent_lock:
                # Forget heartbeats that can no longer prove anything.
                for old in [key for key, sent_at in self._sent.items() if now - sent_at > TRUST_WINDOW]:
                    del self._sent[old]
                self._sent[payload] = now
            try:
                self.db.execute("notify", {"channel": ALIVE_CHANNEL, "payload": f"{self.listener_id}|{payload}"})
            except ApiError:
                pass  # Postgres is unreachable: no proof this time, which is the point

    # ------------------------------------------------------------------------------------ broadcasting
    def broadcast(self, message: str, timeout: float = ACK_TIMEOUT) -> bool:
        """Send `message` to every process's listener and wait until all of them acknowledged it, or
        `timeout`. True when all did; False means some did not, and have stopped trusting their caches by
        now (the module docstring says why), so the purge holds either way. Raises DbUnavailable if the
        message could not be sent."""

        def send(channel: str, payload: str) -> bool:
            self.db.execute("notify", {"channel": channel, "payload": payload})
            return True

        return self.write_announced(message, send, timeout)[1]

    def write_announced(self, message: str, write: Callable[[str, str], T | None],
                        timeout: float = ACK_TIMEOUT, siblings_stamped: bool = False,
                        ) -> tuple[T | None, bool]:
        """A write that sends the purge `message` itself: `write(channel, payload)` runs one statement that
        calls `pg_notify(channel, payload)` when it changes something, so the purge commits with the change
        or not at all (no committed change can go unannounced, as one could if the process failed between a
        write and a separate `broadcast`). Then waits as `broadcast` does. `write` returns None when it
        changed nothing, and so sent nothing: nothing to wait for. Returns what `write` returned, and whether
        every process acknowledged (True when nothing was sent).

        `siblings_stamped`: `write` bumps the write stamps this process shares with its group before it
        returns, and every cache the message purges checks them; then only other groups are waited for."""
        event_id = (self._siblings if siblings_stamped else "") + uuid.uuid4().hex
        # Whoever may trust its caches now. Taken before sending: a listener that connects later starts from
        # empty caches. Without a live listener of our own we cannot know: wait for the timeout.
        now = time.monotonic()
        expected = ({sender for sender, heard_at in list(self._heard.items())
                     if now - heard_at < TRUST_WINDOW
                     and not (siblings_stamped and sender.startswith(self._siblings))}
                    if self.trusted else None)
        if expected is not None and not expected:  # a stamped write among siblings alone: nobody to wait for
            return write(CHANNEL, f"{event_id}|{message}"), True
        acks = self._acks[event_id] = _Acks()
        try:
            written = write(CHANNEL, f"{event_id}|{message}")
            if written is None:
                return None, True
            sent_at = time.monotonic()
            deadline = sent_at + timeout
            with acks.changed:
                while expected is None or not expected <= acks.listeners:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        metrics.purge_acknowledged(time.monotonic() - sent_at, complete=False)
                        log.warning("cache purge %s: %s of %s processes acknowledged; the others no longer "
                                    "trust their caches", event_id, len(acks.listeners),
                                    "?" if expected is None else len(expected))
                        return written, False
                    acks.changed.wait(remaining)
            metrics.purge_acknowledged(time.monotonic() - sent_at, complete=True)
            return written, True
        finally:
            del self._acks[event_id]
