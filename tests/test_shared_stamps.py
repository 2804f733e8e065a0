"""Write stamps shared by the workers of one server (coner_api/shared_stamps.py): a bump is seen by every
process forked from the one that made the table, and a profile entry read before a sibling's write is
refused the moment the write returns, before any purge message could have reached its process."""
from __future__ import annotations

import multiprocessing

from coner_api import shared_stamps
from coner_api.profiles.cache import ProfileCache
from coner_api.shared_stamps import SharedStamps


def _bump_in_child(stamps: SharedStamps, key: str) -> None:
    stamps.bump(key)


def test_a_bump_in_a_forked_child_is_seen_by_its_parent_and_changes_only_its_slot():
    stamps = SharedStamps()
    before, other = stamps.current("user-1"), stamps.current("user-2")
    child = multiprocessing.get_context("fork").Process(target=_bump_in_child, args=(stamps, "user-1"))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert stamps.current("user-1") != before
    assert stamps.current("user-2") == other  # distinct slots (crc32 of these keys differs in the low bits)


def test_every_bump_draws_a_new_stamp():
    stamps = SharedStamps()
    seen = {stamps.current("user")}
    for _ in range(50):
        stamps.bump("user")
        seen.add(stamps.current("user"))
    assert len(seen) == 51


def test_any_string_has_a_slot():
    stamps = SharedStamps()
    for key in ("", "\ud800", "\x00", "é" * 1000):
        stamps.bump(key)
        assert isinstance(stamps.current(key), int)


def test_prepare_makes_one_table_per_process_and_keeps_it():
    assert shared_stamps.prepare() is shared_stamps.prepare() is shared_stamps.get()


def test_a_sibling_entry_read_before_a_write_is_refused_once_the_write_returns(app):
    listener = app.extensions["coner.revocations"].listener
    assert listener.wait_trusted(10)
    stamps = SharedStamps()
    reader, writer = ProfileCache(listener, 10, stamps=stamps), ProfileCache(listener, 10, stamps=stamps)
    taken = reader.read_stamp("user")
    reader.keep(taken, "user", b'{"school": "old"}')
    assert reader.get("user") == b'{"school": "old"}'
    writer.written("user")  # no purge message: the reader's listener hears nothing
    assert reader.get("user") is None
    assert len(reader.cache) == 1  # still held, never served

    taken = reader.read_stamp("user")  # a read that a write overtakes is not served either
    writer.written("user")
    reader.keep(taken, "user", b'{"school": "read before the write"}')
    assert reader.get("user") is None
