"""Rate limits shared through one real Redis by several processes, each counting on its own between batches
(coner_api/redis_windows.py): the stated bound on what they admit together, exact small limits, and the
round trips a batch saves."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pytest
import redis
from limits import parse

from coner_api.redis_windows import BATCH_MAX, RedisWindows, batch_size
from tests.support.jwks import FakeClock
from tests.support.redis_server import RedisServer, start_redis


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


def process_windows(server: RedisServer, clock: FakeClock, **options) -> RedisWindows:
    """What one worker process has: its own client (own connections) and its own windows."""
    return RedisWindows(redis.Redis(port=server.port, socket_timeout=5), clock=clock, **options)


def test_the_batch_is_two_percent_of_the_limit_and_small_limits_are_exact():
    assert [batch_size(parse(f"{n}/minute")) for n in (5, 6, 99, 100, 1000, 10_000)] == [1, 1, 1, 2, 20, BATCH_MAX]


def test_processes_sharing_redis_admit_at_most_the_limit_plus_one_batch_each(redis_server):
    """W processes (limiter instances with their own clients and flushers) hammer one key from several
    threads each: together they admit at least L and at most L + W × B requests in the window."""
    clock = FakeClock()  # nothing leaves the window during the test
    limit = parse("1000/minute")
    workers, threads_each, tries_each = 3, 4, 600
    batch = batch_size(limit)
    processes = [process_windows(redis_server, clock, flush_interval=0.002) for _ in range(workers)]
    admitted = [0] * (workers * threads_each)
    start = threading.Barrier(workers * threads_each)

    def run(slot: int, windows: RedisWindows) -> None:
        start.wait()
        for _ in range(tries_each):
            allowed, stats = windows.hit(limit, "coner/protected/1000 per 1 minute/user:alice")
            admitted[slot] += allowed
            assert 0 <= stats.remaining <= limit.amount

    threads = [threading.Thread(target=run, args=(slot, processes[slot % workers]))
               for slot in range(workers * threads_each)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for windows in processes:
        windows.close()
    total = sum(admitted)
    assert workers * threads_each * tries_each > limit.amount + workers * batch  # the load could overshoot
    assert limit.amount <= total <= limit.amount + workers * batch, (total, batch)
    # Redis recorded every admitted hit it had room for: the window is full, so every process now refuses.
    assert redis.Redis(port=redis_server.port).llen("coner/protected/1000 per 1 minute/user:alice") == limit.amount
    assert all(not windows.hit(limit, "coner/protected/1000 per 1 minute/user:alice")[0] for windows in processes)


def test_a_small_limit_is_counted_exactly_across_processes(redis_server):
    clock = FakeClock()
    limit = parse("6/minute")
    processes = [process_windows(redis_server, clock) for _ in range(3)]
    answers = [processes[n % 3].hit(limit, "ip:10.0.0.1") for n in range(9)]
    assert [allowed for allowed, _ in answers] == [True] * 6 + [False] * 3
    assert [stats.remaining for stats in (s for _, s in answers[:6])] == [5, 4, 3, 2, 1, 0]
    assert all(stats.reset_time == clock.now + 60 for _, stats in answers)


def test_a_batch_saves_round_trips_and_a_full_window_costs_none(redis_server):
    """One thread, no flusher in the way: a process holds B hits, then the next request carries them to Redis
    with its own, so 21 requests (B = 20) make one call. Once Redis says the window is full, refusals are
    local until its oldest hit leaves the window; then Redis is asked again."""
    clock = FakeClock()
    limit = parse("1000/minute")
    windows = process_windows(redis_server, clock, flush_interval=3600)
    for _ in range(10 * 21):
        assert windows.hit(limit, "k")[0]
    assert windows.calls == 10
    assert redis.Redis(port=redis_server.port).llen("k") == 10 * 21  # every hit recorded

    redis.Redis(port=redis_server.port).lpush("k", *[repr(clock.now)] * (1000 - 210))  # others filled it
    while windows.hit(limit, "k")[0]:  # at most one batch more, then Redis refuses
        pass
    calls = windows.calls
    for _ in range(50):
        allowed, stats = windows.hit(limit, "k")
        assert not allowed and stats.remaining == 0 and stats.reset_time == clock.now + 60
    assert windows.calls == calls
    clock.advance(60)  # every hit so far leaves the window at once
    assert windows.hit(limit, "k")[0]
    assert windows.calls == calls + 1
    windows.close()


def test_a_failed_flush_is_reported_to_the_next_hit(redis_server):
    clock = FakeClock()
    limit = parse("1000/minute")
    windows = process_windows(redis_server, clock, flush_interval=3600)
    assert windows.hit(limit, "k")[0]  # held
    redis_server.stop()
    windows.flush()
    with pytest.raises(redis.RedisError):
        windows.hit(limit, "k")
    windows.close()


def test_the_script_answers_the_count_and_the_oldest_hit_of_the_window(redis_server):
    """What each call returns per key, which the answer and the X-RateLimit headers are built from: the count
    in the window after the call and its oldest hit, as hits are brought along, asked for, trimmed to the
    limit and leave the window."""
    clock = FakeClock()
    windows = process_windows(redis_server, clock, flush_interval=3600)
    limit = parse("10/minute")
    start = clock.now

    def call(forced: int, wanted: int, key: str = "k") -> tuple[int, int, float | None]:
        [reply] = windows._call(clock.now, [(key, limit, forced, wanted)])
        return reply

    assert call(0, 0) == (0, 0, None)  # nothing recorded, nothing made
    assert not redis.Redis(port=redis_server.port).exists("k")
    assert call(3, 0) == (0, 3, start)  # brought along only: recorded, nothing asked
    clock.advance(10)
    assert call(0, 1) == (1, 4, start)  # asked for: admitted, the oldest hit unchanged
    assert call(2, 1) == (1, 7, start)
    clock.advance(10)
    assert call(5, 1) == (0, 10, start)  # forced beyond the limit: trimmed to it, the newest kept
    assert redis.Redis(port=redis_server.port).llen("k") == 10
    # The list held 3 + 4 + 5 hits (at start, start + 10, start + 20): the trim left 1 of start's.
    clock.advance(40)  # start's hit leaves the window
    assert call(0, 0) == (0, 9, start + 10)
    clock.advance(10)  # start + 10's four leave: start + 20's five remain
    assert call(1, 1) == (1, 7, start + 20)
    clock.advance(60)
    assert call(0, 1) == (1, 1, clock.now)  # all left at once: the list starts again
    windows.close()
