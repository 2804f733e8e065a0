"""The purge listener (sessions/broadcast.py) in-process on the test Postgres: trust follows the heartbeats that
come back, a broadcast returns once every trusted listener applied and acknowledged it, subscribers get their
kind of message, and a (re)connection clears and reloads. Across gunicorn workers and through a black hole
or a pooler: tests/test_logout_propagation.py."""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import psycopg
import pytest
from prometheus_client import REGISTRY

from coner_api.sessions.broadcast import (ACK_CHANNEL, ACK_TIMEOUT, ACKS_PER_NOTIFICATION, ALIVE_CHANNEL,
                                         CHANNEL, OUTAGE_BACKOFF, RECONNECT_AFTER, TRUST_WINDOW, Listener,
                                         _Acks)
from tests.support.revocations import open_database, private_database
from tests.support.servers import unreachable_url


class Recorder:
    """What a listener handed to its callbacks, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.times: list[tuple[str, float]] = []
        self.parameters: dict[str, str] = {}
        self.connected = threading.Event()

    def message(self, text: str) -> None:
        self.events.append(("message", text))

    def disconnect(self) -> None:
        self.events.append(("cleared", None))
        self.times.append(("cleared", time.monotonic()))

    def connect(self, conn) -> None:
        self.events.append(("connected", conn.info.parameter_status("application_name")))
        self.parameters = conn.info.get_parameters()
        self.times.append(("connected", time.monotonic()))
        self.connected.set()

    def moments(self, kind: str) -> list[float]:
        return [at for what, at in self.times if what == kind]

    def messages(self) -> list[object]:
        return [value for kind, value in self.events if kind == "message"]


def timed_out(outcome: str = "timeout") -> tuple[float, float]:
    """How many broadcasts of this process ended so (timeout, acknowledged), and their seconds (/metrics)."""
    labels = {"outcome": outcome}
    return (REGISTRY.get_sample_value("coner_cache_purge_ack_seconds_count", labels) or 0.0,
            REGISTRY.get_sample_value("coner_cache_purge_ack_seconds_sum", labels) or 0.0)


def wait_until_heard(sender: Listener, receiver: Listener) -> None:
    """Until `sender` has heard `receiver`'s heartbeat, so that its broadcasts wait for that acknowledgement."""
    deadline = time.monotonic() + 5
    while receiver.listener_id not in sender._heard:
        assert time.monotonic() < deadline, "the sender never heard the receiver"
        sender._proof.wait(0.1)


@pytest.fixture(scope="module")
def database_url(database_url) -> Iterator[str]:
    """A database that only this module's listeners use (a broadcast waits for whoever it hears)."""
    with private_database(database_url) as url:
        yield url


@pytest.fixture
def db(database_url):
    with open_database(database_url) as db:
        yield db


@pytest.fixture
def make_listener(db, database_url) -> Iterator:
    started: list[Listener] = []

    def make(start: bool = True, group: str | None = None) -> tuple[Listener, Recorder]:
        recorder = Recorder()
        listener = Listener(database_url, db, recorder.message, recorder.disconnect, recorder.connect,
                            group=group)
        if start:
            listener.start()
            started.append(listener)
            assert listener.wait_trusted(10)
        return listener, recorder

    yield make
    for listener in started:
        listener.stop()


def test_a_connected_listener_clears_then_loads_on_its_own_connection_and_is_trusted(make_listener):
    listener, recorder = make_listener()
    assert listener.trusted
    assert recorder.events[:2] == [("cleared", None), ("connected", "coner-cache-listener")]


def test_the_listeners_connection_has_the_pools_deadline(db, database_url):
    """Its LISTEN and the state it loads on connecting end within the pool's deadline (query_deadlines.py):
    a link gone silent while the peer's kernel answers would otherwise hold the listener's thread for good."""
    seen = []
    listener = Listener(database_url, db, lambda message: None, lambda: None,
                        lambda conn: seen.append(conn.deadline))
    listener.start()
    try:
        assert listener.wait_trusted(10)
        assert seen == [db.deadline] and db.deadline is not None
    finally:
        listener.stop()


def test_a_stopped_listener_is_not_trusted_and_has_cleared_its_caches(make_listener):
    listener, recorder = make_listener()
    listener.stop()
    assert not listener.trusted
    assert recorder.events[-1] == ("cleared", None)
    assert not listener.wait_trusted(0.1)


def test_a_listener_that_never_ran_is_not_trusted(make_listener):
    listener, _ = make_listener(start=False)
    assert not listener.trusted
    started = time.monotonic()
    assert not listener.wait_trusted(0.3)
    assert time.monotonic() - started >= 0.3


def test_a_broadcast_returns_once_every_trusted_listener_applied_it(make_listener):
    sender, own = make_listener()
    receiver, other = make_listener()
    # The sender expects the acknowledgement of whoever it heard within the trust window.
    wait_until_heard(sender, receiver)
    count, total = timed_out("acknowledged")
    started = time.monotonic()
    assert sender.broadcast("user:someone:12.5") is True
    assert time.monotonic() - started < ACK_TIMEOUT  # acknowledged, not timed out
    assert timed_out("acknowledged")[0] == count + 1 and 0 < timed_out("acknowledged")[1] - total < ACK_TIMEOUT
    assert other.messages() == ["user:someone:12.5"] and own.messages() == ["user:someone:12.5"]


def test_an_untrusted_sender_waits_for_the_timeout_but_the_message_still_goes_out(make_listener):
    sender, _ = make_listener(start=False)
    _, receiver = make_listener()
    count, total = timed_out()
    started = time.monotonic()
    assert sender.broadcast("user:someone:1.0", timeout=0.5) is False
    assert 0.5 <= time.monotonic() - started < ACK_TIMEOUT  # the timeout given, not the default
    assert timed_out()[0] == count + 1 and 0.5 <= timed_out()[1] - total < 5  # /metrics counts it as a timeout
    deadline = time.monotonic() + 5
    while receiver.messages() != ["user:someone:1.0"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert sender._acks == {}  # nothing left behind by the finished broadcast


def test_subscribers_get_their_kind_and_are_cleared_with_the_caches(make_listener):
    listener, recorder = make_listener(start=False)
    purged, cleared = [], []
    listener.subscribe("mfa", purged.append, lambda: cleared.append(True))
    listener.start()
    try:
        assert listener.wait_trusted(10)
        assert cleared  # a connection clears every subscriber too
        assert listener.broadcast("mfa:user-1") is True
        assert listener.broadcast("session:abc:2.0") is True
        assert purged == ["mfa:user-1"] and recorder.messages() == ["session:abc:2.0"]
    finally:
        listener.stop()


def test_heartbeats_of_others_are_heard_but_prove_nothing(make_listener):
    listener, _ = make_listener(start=False)
    assert listener._heartbeat("another-listener|1") is False
    assert "another-listener" in listener._heard
    assert listener._heartbeat(f"{listener.listener_id}|999") is False  # not a heartbeat we sent
    assert not listener.trusted


def test_our_own_heartbeat_proves_the_connection_until_the_trust_window_passes(make_listener):
    listener, _ = make_listener(start=False)
    sent_at = time.monotonic()
    listener._sent["1"] = sent_at
    assert listener._heartbeat(f"{listener.listener_id}|1") is True
    assert listener.trusted and listener._proven_at == sent_at
    listener._sent["2"] = sent_at - 1  # an older heartbeat arriving late does not move the proof back
    assert listener._heartbeat(f"{listener.listener_id}|2") is True
    assert listener._proven_at == sent_at
    listener._proven_at = time.monotonic() - TRUST_WINDOW
    assert not listener.trusted


def test_listeners_not_heard_for_two_trust_windows_are_forgotten(make_listener):
    listener, _ = make_listener(start=False)
    listener._heard["gone"] = time.monotonic() - 2 * TRUST_WINDOW - 0.1
    listener._heard["quiet"] = time.monotonic() - 2 * TRUST_WINDOW + 1
    listener._heartbeat("someone|1")
    assert set(listener._heard) == {"quiet", "someone"}


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_listener_heard_lately_that_does_not_acknowledge_makes_the_broadcast_time_out(make_listener):
    sender, _ = make_listener()
    gone, gone_recorder = make_listener()
    wait_until(lambda: gone.listener_id in sender._heard)
    # Dead without a word (killed outright), heard less than TRUST_WINDOW ago: it may still trust its caches,
    # so it is waited for.
    gone.stop(announce=False)
    started = time.monotonic()
    assert sender.broadcast("user:someone:3.0", timeout=0.5) is False
    assert time.monotonic() - started >= 0.5
    assert gone_recorder.messages() == [] and sender._acks == {}


def test_a_listener_that_says_it_is_gone_is_not_waited_for(make_listener):
    """A process that stops cleanly says so (its caches go with it): the others' writes stop waiting for its
    acknowledgement, instead of waiting out ACK_TIMEOUT for every write while a server restarts."""
    sender, _ = make_listener()
    leaving, _ = make_listener()
    staying, stayed = make_listener()
    wait_until(lambda: {leaving.listener_id, staying.listener_id} <= set(sender._heard))
    leaving.stop()  # heard within the trust window: without its goodbye, waited for until the timeout
    assert sender.broadcast("user:someone:4.0", timeout=ACK_TIMEOUT) is True  # not a timeout
    assert stayed.messages() == ["user:someone:4.0"]


def test_a_write_waiting_for_a_listener_stops_waiting_when_it_says_it_is_gone(make_listener):
    sender, _ = make_listener()
    leaving, _ = make_listener()
    wait_until(lambda: leaving.listener_id in sender._heard)
    leaving._stopping.set()  # its listening thread ends: it hears, so acknowledges, nothing more
    leaving._thread.join(5)
    with ThreadPoolExecutor(1) as background:
        waiting = background.submit(sender.broadcast, "user:someone:5.0", ACK_TIMEOUT)
        wait_until(lambda: sender._acks)  # the write waits for the leaving listener's acknowledgement
        leaving.db.execute("notify", {"channel": ALIVE_CHANNEL, "payload": f"{leaving.listener_id}|gone"})
        assert waiting.result(timeout=2 * ACK_TIMEOUT) is True


def test_a_stamped_write_waits_for_other_groups_but_not_for_its_siblings(make_listener, db):
    """Siblings (one server's workers) share write stamps, so a stamped write does not wait for them; a
    listener of another group (another server) that does not acknowledge is still waited for."""
    sender, _ = make_listener(group="server-a")
    sibling, _ = make_listener(group="server-a")
    wait_until_heard(sender, sibling)

    def write(channel: str, payload: str) -> str:
        db.execute("notify", {"channel": channel, "payload": payload})
        return "the row"

    sibling.stop(announce=False)  # heard lately, silent: an ordinary broadcast would wait the timeout out
    started = time.monotonic()
    stamped = sender.write_announced("profile:someone", write, timeout=0.5, siblings_stamped=True)
    assert stamped == ("the row", True)
    assert time.monotonic() - started < 0.5
    assert sender.write_announced("profile:someone", write, timeout=0.5) == ("the row", False)

    stranger, _ = make_listener(group="server-b")
    wait_until_heard(sender, stranger)
    stranger.stop(announce=False)
    started = time.monotonic()
    stamped = sender.write_announced("profile:someone", write, timeout=0.5, siblings_stamped=True)
    assert stamped == ("the row", False)
    assert time.monotonic() - started >= 0.5


def test_a_sibling_applies_a_stamped_purge_without_acknowledging_it(make_listener, db, database_url):
    sender, _ = make_listener(group="server-c")
    sibling, sibling_recorder = make_listener(group="server-c")
    stranger, stranger_recorder = make_listener(group="server-d")
    for receiver in (sibling, stranger):
        wait_until_heard(sender, receiver)

    def write(channel: str, payload: str) -> str:
        db.execute("notify", {"channel": channel, "payload": payload})
        return "the row"

    with psycopg.connect(database_url, autocommit=True) as acks:
        acks.execute(f"LISTEN {ACK_CHANNEL}")
        assert sender.write_announced("profile:someone", write, siblings_stamped=True) == ("the row", True)
        wait_until(lambda: sibling_recorder.messages() == ["profile:someone"])
        assert stranger_recorder.messages() == ["profile:someone"]  # it was waited for
        heard = [note.payload for note in acks.notifies(timeout=1)]
    assert [payload for payload in heard if payload.endswith("|" + stranger.listener_id)]
    assert not [payload for payload in heard if payload.endswith("|" + sibling.listener_id)]


def test_a_listener_caught_up_has_applied_every_purge_committed_before(make_listener, db):
    listener, recorder = make_listener()
    for number in range(20):  # sent without waiting for anyone: they reach the listener when they reach it
        db.execute("notify", {"channel": CHANNEL, "payload": f"event-{number}|user:someone:{number}"})
    assert listener.wait_caught_up(10)
    assert recorder.messages() == [f"user:someone:{number}" for number in range(20)]


def test_a_listener_that_is_not_running_never_catches_up(make_listener):
    listener, _ = make_listener(start=False)
    started = time.monotonic()
    assert not listener.wait_caught_up(0.3)
    assert time.monotonic() - started >= 0.3


def test_heartbeats_keep_coming_back_while_connected(make_listener):
    listener, _ = make_listener()
    first = listener._proven_at
    wait_until(lambda: listener._proven_at > first, timeout=3 * TRUST_WINDOW)
    assert listener.trusted
    assert all(time.monotonic() - sent_at <= TRUST_WINDOW + 1 for sent_at in listener._sent.values())


def test_the_listening_connection_detects_a_dead_peer_and_its_threads_never_block_an_exit(make_listener,
                                                                                        caplog):
    listener, recorder = make_listener()
    # TCP keepalives (5 s idle, then 2 probes 2 s apart) and a 3 s connect timeout bound a dead link.
    assert {name: recorder.parameters.get(name) for name in
            ("connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count")} \
        == {"connect_timeout": "3", "keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "2",
            "keepalives_count": "2"}
    threads = {thread.name: thread for thread in threading.enumerate()
               if thread in (listener._thread, listener._heart)}
    assert set(threads) == {"coner-cache-listener", "coner-cache-heartbeat"}
    assert all(thread.daemon for thread in threads.values())
    listener.stop()
    assert not any(record.name == "coner_api.sessions.broadcast" for record in caplog.records)


def test_an_unreachable_database_is_retried_soon_and_at_most_a_second_apart(db, caplog):
    """Connection refused: attempts 0.4 s, then 0.8 s apart, then every OUTAGE_BACKOFF (1 s), each logged: the
    listener must be back within a moment of Postgres, since until then every logout and profile write waits
    out the acknowledgement timeout (it was up to 30 s apart after a long outage)."""
    recorder = Recorder()
    listener = Listener(unreachable_url("postgresql", "/none"), db, recorder.message, recorder.disconnect)
    listener.start()
    try:
        wait_until(lambda: len(recorder.moments("cleared")) >= 6, timeout=15)
    finally:
        listener.stop()
    at = recorder.moments("cleared")
    gaps = [later - earlier for earlier, later in zip(at, at[1:])][:5]
    assert 0.4 <= gaps[0] < 0.9 and 0.8 <= gaps[1] < 1.5
    assert all(OUTAGE_BACKOFF <= gap < OUTAGE_BACKOFF + 0.6 for gap in gaps[2:]), gaps
    assert "cache listener disconnected" in caplog.text
    assert not listener.trusted


def test_a_connection_whose_heartbeats_never_come_back_is_made_again(database_url):
    """A pooler or a black hole: our heartbeats (sent here on another database) never reach the listener. It
    is never trusted, and drops the connection RECONNECT_AFTER after making it."""
    recorder = Recorder()
    with private_database(database_url) as other_database, open_database(other_database) as elsewhere:
        listener = Listener(database_url, elsewhere, recorder.message, recorder.disconnect, recorder.connect)
        listener.start()
        try:
            wait_until(lambda: len(recorder.moments("connected")) >= 2, timeout=RECONNECT_AFTER + 5)
            assert not listener.trusted
        finally:
            listener.stop()
    first, second = recorder.moments("connected")[:2]
    assert RECONNECT_AFTER <= second - first < RECONNECT_AFTER + 2


def test_a_connection_whose_heartbeats_come_back_is_kept(make_listener):
    """Only silence drops a connection: one that keeps proving itself is kept past RECONNECT_AFTER."""
    listener, recorder = make_listener()
    deadline = recorder.moments("connected")[0] + RECONNECT_AFTER + 1
    while time.monotonic() < deadline:  # observe for a whole silence period and then some
        assert listener.wait_trusted(1)
        time.sleep(0.1)
    assert len(recorder.moments("connected")) == 1 and listener.trusted


def test_a_write_that_changed_nothing_sent_nothing_and_waits_for_nobody(make_listener):
    sender, own = make_listener()
    started = time.monotonic()
    assert sender.write_announced("profile:someone", lambda channel, payload: None, timeout=2) == (None, True)
    assert time.monotonic() - started < 2 and sender._acks == {}
    sender.broadcast("user:marker:1.0")  # a message sent after it comes back alone: nothing was sent before
    assert own.messages() == ["user:marker:1.0"]


def test_a_write_announced_by_its_own_statement_returns_its_result_once_every_listener_applied_it(make_listener,
                                                                                                  db):
    sender, own = make_listener()
    receiver, other = make_listener()
    wait_until_heard(sender, receiver)

    def write(channel: str, payload: str) -> str:
        db.execute("notify", {"channel": channel, "payload": payload})
        return "the row"

    assert sender.write_announced("profile:someone", write) == ("the row", True)
    assert other.messages() == ["profile:someone"] and own.messages() == ["profile:someone"]


def test_broadcasts_sent_together_are_each_acknowledged_by_every_listener(make_listener):
    """Acknowledgements of one packet go out together, and the sender's own in memory: each still counts."""
    sender, _ = make_listener()
    receiver, other = make_listener()
    wait_until_heard(sender, receiver)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda n=n: results.append(sender.broadcast(f"user:u{n}:{n}.0")))
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [True] * 8
    assert sorted(other.messages()) == sorted(f"user:u{n}:{n}.0" for n in range(8))
    assert sender._acks == {}


def test_acknowledgements_of_many_purges_reach_their_sender_across_notifications(make_listener, database_url):
    """More purges in one packet than one notification's payload holds: every one is acknowledged."""
    sender, _ = make_listener()
    receiver, _ = make_listener()
    event_ids = [uuid.uuid4().hex for _ in range(2 * ACKS_PER_NOTIFICATION + 1)]
    for event_id in event_ids:
        sender._acks[event_id] = _Acks()
    try:
        with psycopg.connect(database_url, autocommit=True) as listening:
            listening.execute(f"LISTEN {ACK_CHANNEL}")
            receiver._acknowledge(event_ids)
            listening.execute("SELECT pg_notify(%s, 'marker')", (ACK_CHANNEL,))  # arrives after them
            notes = []
            for note in listening.notifies(timeout=10):
                if note.payload == "marker":
                    break
                notes.append(note.payload)
        deadline = time.monotonic() + 5
        while not all(receiver.listener_id in sender._acks[event_id].listeners for event_id in event_ids):
            assert time.monotonic() < deadline, "some acknowledgements never arrived"
            time.sleep(0.01)
        # As few notifications as the payload limit allows: 200 ids each.
        assert len([n for n in notes if n.endswith("|" + receiver.listener_id)]) == 3
    finally:
        for event_id in event_ids:
            sender._acks.pop(event_id, None)
