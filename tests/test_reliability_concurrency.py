"""Nothing lost under concurrency, through gunicorn with three worker processes: once-only first-time setup,
partial updates that never overwrite each other, and a global logout that no later request outruns."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.faults import GENEROUS_LIMITS, Timed, call, call_all
from tests.support.profiles import VALID
from tests.support.servers import app_settings
from tests.support.users import sign_up_user

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workers(module_api_server, migrated_database, auth_server):
    """The API under gunicorn, three workers of four threads as in production, shared by the module."""
    return module_api_server(app_settings(migrated_database, auth_server, **GENEROUS_LIMITS), workers=3,
                             threads=4)


def test_fifty_concurrent_first_time_setups_succeed_exactly_once(workers, auth_server, db_conn):
    user = sign_up_user(auth_server)
    bodies = [{**VALID, "full_name": f"Contender {n}", "phone_number": f"{20_000_000 + n}"}
              for n in range(50)]
    answers = call_all(workers.url, [("PUT", "/users/profile-first", body) for body in bodies],
                       token=user.access_token)

    unexpected = [a for a in answers if a.status not in (200, 400)]
    assert sorted(a.status for a in answers) == [200] + [400] * 49, unexpected
    assert {a.code for a in answers if a.status == 400} == {"PROFILE_ALREADY_INITIALIZED"}
    winner = next(body for body, answer in zip(bodies, answers) if answer.status == 200)
    assert next(a for a in answers if a.status == 200).body == winner
    assert call(workers.url, "GET", "/users/profile", token=user.access_token).body == winner
    stored = db_conn.execute("SELECT full_name, phone_number, count(*) OVER () FROM user_profiles"
                             " WHERE user_id = %s", [user.id]).fetchall()
    assert stored == [(winner["full_name"], winner["phone_number"], 1)]


# 5 patchable fields x 10 unique values each: 50 single-field PATCHes of one profile.
PATCH_VALUES = {
    "dob": [f"{1960 + n}-06-15" for n in range(10)],
    "phone_number": [f"55500{n:05d}" for n in range(10)],
    "address": [f"{n} Concurrency Ave" for n in range(10)],
    "school": [f"School {n}" for n in range(10)],
    "major": [f"Major {n}" for n in range(10)],
}


def serial_history(initial: dict[str, Any], writes: list[tuple[str, str, dict]],
                   final: dict[str, Any]) -> list:
    """The order in which the database applied `writes`, or an AssertionError if there is none.

    Each write is (field, value, answer): the answer is the profile the PATCH returned (its UPDATE's
    RETURNING, i.e. the row right after that write). The updates are free of lost updates exactly when
    they form one serial history: starting from `initial`, each answer is the previous state with only its
    own field set (values are unique, so a write cannot be mistaken for another), and the last state is
    the stored row. A read-modify-write race shows up as an answer that undoes an earlier acknowledged
    write, which fits nowhere. Several writes of the same field with nothing in between are told apart
    only by which came last; the answer after them (or the final row) shows which one that was."""
    state, remaining, order = dict(initial), list(writes), []
    while remaining:
        fits = [w for w in remaining if w[2] == {**state, w[0]: w[1]}]
        assert fits, f"lost update: no acknowledged write follows {state}"
        # Writes of two fields both answered as the state before either: one of them undid the other.
        assert len({w[0] for w in fits}) == 1, f"lost update: {sorted({w[0] for w in fits})} after {state}"
        rest = [w for w in remaining if w not in fits]

        def continues(last: tuple) -> bool:
            after = {**state, last[0]: last[1]}
            return after == final if not rest else any(w[2] == {**after, w[0]: w[1]} for w in rest)

        lasts = [w for w in fits if continues(w)]
        assert len(lasts) == 1, f"no unique serial order after {state}"
        order += [w for w in fits if w is not lasts[0]] + lasts
        state, remaining = {**state, lasts[0][0]: lasts[0][1]}, rest
    assert state == final, "the stored row is not the last state of the history"
    return order


def test_fifty_concurrent_patches_lose_no_update(workers, auth_server):
    """50 PATCHes at once, each setting one field to a value no other request uses. Every one must be
    acknowledged, and the 50 answers plus the stored row must fit one serial history (see `serial_history`):
    that is what "no lost update" means, and it is stronger than "each field holds one of its values"."""
    user = sign_up_user(auth_server)
    assert call(workers.url, "PUT", "/users/profile-first", token=user.access_token, json=VALID).status == 200
    before = call(workers.url, "GET", "/users/me", token=user.access_token).body["updated_at"]
    requests = [("PATCH", "/users/profile", {field: values[n]}) for n in range(10)
                for field, values in PATCH_VALUES.items()]

    answers = call_all(workers.url, requests, token=user.access_token)

    assert [a.status for a in answers] == [200] * 50, [a for a in answers if a.status != 200]
    final = call(workers.url, "GET", "/users/profile", token=user.access_token).body
    writes = [(field, value, answer.body) for (_, _, change), answer in zip(requests, answers)
              for field, value in change.items()]
    order = serial_history(VALID, writes, final)
    assert len(order) == 50
    for field, values in PATCH_VALUES.items():
        assert final[field] in values  # the last writer of each field won
    assert final["full_name"] == VALID["full_name"] and final["sex"] == VALID["sex"]
    assert call(workers.url, "GET", "/users/me", token=user.access_token).body["updated_at"] > before


def test_no_old_token_succeeds_after_logout_all_answers(workers, auth_server):
    """Eight clients call /auth/me with one token, on fresh connections spread over the three workers,
    before, during and after a concurrent POST /auth/logout-all with that token. Any request that started
    after the 204 arrived must be refused (401 SESSION_REVOKED); before it, the token worked everywhere."""
    token = sign_up_user(auth_server).access_token
    assert {a.status for a in call_all(workers.url, [("GET", "/auth/me")] * 24, token=token)} == {200}
    results: list[Timed] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            results.append(call(workers.url, "GET", "/auth/me", token=token, timeout=10))

    with ThreadPoolExecutor(8) as pool:
        clients = [pool.submit(client) for _ in range(8)]
        time.sleep(1.0)
        logout = call(workers.url, "POST", "/auth/logout-all", token=token)
        time.sleep(1.5)
        stop.set()
        for future in clients:
            future.result()

    assert logout.status == 204, logout
    assert {r.status for r in results} <= {200, 401}, [r for r in results if r.status not in (200, 401)]
    started_after = [r for r in results if r.started > logout.finished]
    assert len(started_after) >= 8, "the clients kept calling after the 204"
    assert [r for r in started_after if r.status != 401 or r.code != "SESSION_REVOKED"] == []
    assert sum(r.status == 200 for r in results if r.finished < logout.started) >= 8
