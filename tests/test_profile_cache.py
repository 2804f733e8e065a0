"""The per-process cache of GET /users/profile (coner_api/profiles/cache.py): a read after a write on any
process sees the write, for every writer; a process that cannot hear purges reads Postgres; a deleted
account's profile is never served from a cache; the cache is bounded.

Two apps on one database are two workers, each with its own cache and purge listener, in both shapes a
deployment has (`second`): siblings of one server, which share write stamps (a write makes the other's
entry unservable at once, shared_stamps.py), and workers of two servers, which do not (a write answers only
once the other has dropped its entry)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from coner_api.profiles import cache as profile_cache
from coner_api.sessions.broadcast import CHANNEL
from tests.support.faults import GENEROUS_LIMITS
from tests.support.profiles import VALID, another_server
from tests.support.servers import app_settings, unreachable_url
from tests.support.users import PASSWORD, SignedInUser, bearer, sign_in, sign_up, user_with

SET_UP = {**VALID, "dob": "1995-03-15"}


@pytest.fixture(scope="module", params=["sibling", "another server"])
def second(request, make_module_app, migrated_database, auth_server, app):
    """A second worker beside the session's app, both listening for purges: a sibling of the same server,
    or a worker of another server (one of each for the module: an app that stops is still awaited by
    broadcasts for a few seconds, until its heartbeats are old)."""
    settings = app_settings(migrated_database, auth_server)
    if request.param == "sibling":
        other = make_module_app(settings)
    else:
        with another_server():
            other = make_module_app(settings)
    assert (other.extensions["coner.profile_cache"].stamps is app.extensions["coner.profile_cache"].stamps) \
        == (request.param == "sibling")
    for each in (app, other):
        assert each.extensions["coner.revocations"].listener.wait_trusted(10)
    return other


def cached(app, user_id: str) -> bytes | None:
    """What the app's cache would answer for the user (an entry a sibling's write made stale is none)."""
    profiles = app.extensions["coner.profile_cache"]
    entry = profiles.cache._entries.get(user_id)
    if entry is None or entry[1][0] != profiles.stamps.current(user_id):
        return None
    return entry[1][1]


def read_twice(app, user: SignedInUser) -> dict:
    """GET /users/profile twice on `app`: the second answer comes from its cache (asserted). First the app's
    listener catches up: a purge of an earlier write that nobody waited for (this process's own, or a
    sibling's) could otherwise land between the two reads, and the second would be a miss (safe, but not
    what this asserts)."""
    assert app.extensions["coner.revocations"].listener.wait_caught_up(10)
    client = app.test_client()
    first = client.get("/users/profile", headers=user.headers)
    assert first.status_code == 200, first.get_json()
    hits = app.extensions["coner.profile_cache"].cache.hits
    again = client.get("/users/profile", headers=user.headers)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert app.extensions["coner.profile_cache"].cache.hits == hits + 1, "the second read was not a cache hit"
    return again.get_json()


def test_first_time_setup_on_one_worker_is_read_on_the_other(client, second, new_user):
    user = new_user()
    assert read_twice(second, user)["full_name"] is None  # cached there: nothing set up yet
    assert client.put("/users/profile-first", json=VALID, headers=user.headers).status_code == 200
    assert second.test_client().get("/users/profile", headers=user.headers).get_json() == SET_UP


def test_a_patch_on_one_worker_is_read_on_the_other(client, second, new_user):
    user = new_user()
    assert client.put("/users/profile-first", json=VALID, headers=user.headers).status_code == 200
    assert read_twice(second, user)["school"] == VALID["school"]
    answer = client.patch("/users/profile", json={"school": "MIT", "major": "Physics"}, headers=user.headers)
    assert answer.status_code == 200, answer.get_json()
    seen = second.test_client().get("/users/profile", headers=user.headers).get_json()
    assert seen == {**SET_UP, "school": "MIT", "major": "Physics"}
    assert read_twice(client.application, user) == seen  # and the writer's own cache holds the new body


def test_every_patch_of_a_burst_is_seen_by_the_other_worker_at_once(client, second, new_user):
    """Reads racing the writes on the other worker never leave an older body cached behind a newer write."""
    user = new_user()
    assert client.put("/users/profile-first", json=VALID, headers=user.headers).status_code == 200
    other = second.test_client()

    def keep_reading(_: int) -> None:
        for _ in range(20):
            other.get("/users/profile", headers=user.headers)

    with ThreadPoolExecutor(3) as readers:
        running = [readers.submit(keep_reading, n) for n in range(3)]
        for number in range(8):
            school = f"School {number}"
            assert client.patch("/users/profile", json={"school": school}, headers=user.headers).status_code == 200
            assert other.get("/users/profile", headers=user.headers).get_json()["school"] == school
        for done in running:
            done.result()


def test_a_self_deleted_account_is_not_served_from_any_cache(client, second):
    email, user_id = sign_up(client)
    token = sign_in(client, email)["access_token"]
    user = SignedInUser(user_id, email, "", token)
    assert client.put("/users/profile-first", json=VALID, headers=user.headers).status_code == 200
    read_twice(second, user)
    answer = client.delete("/users/me", json={"password": PASSWORD}, headers=bearer(token))
    assert answer.status_code == 204, answer.get_json()
    assert cached(second, user_id) is None and cached(client.application, user_id) is None
    assert second.test_client().get("/users/profile", headers=user.headers).status_code == 401


def test_an_admin_deletion_reaches_every_cache(client, second, auth_server, new_user):
    admin, user = user_with(auth_server, "super_admin"), new_user()
    assert client.put("/users/profile-first", json=VALID, headers=user.headers).status_code == 200
    read_twice(second, user)
    assert client.delete(f"/admin/users/{user.id}", headers=admin.headers).status_code == 204
    assert cached(second, user.id) is None
    assert second.test_client().get("/users/profile", headers=user.headers).status_code == 401


def test_a_deleted_row_is_a_404_on_the_other_worker_even_while_its_token_lives(app, second, new_user):
    """The row's purge alone (no logout cutoff): the profile goes, on every worker, with the UPDATE."""
    from coner_api.profiles import service

    user = new_user()
    assert app.test_client().put("/users/profile-first", json=VALID, headers=user.headers).status_code == 200
    read_twice(second, user)
    with app.app_context():
        service.mark_deleted(user.id)
    assert second.test_client().get("/users/profile", headers=user.headers).status_code == 404


def test_a_worker_that_cannot_hear_purges_reads_postgres(make_app, migrated_database, auth_server, new_user,
                                                          db_conn):
    """Its listener never connects, so it never trusts its cache: even a change nobody announced (SQL by
    hand) is read at once, and nothing is answered from memory."""
    deaf = make_app(app_settings(migrated_database, auth_server,
                                 DATABASE_LISTEN_URL=unreachable_url("postgresql", "/x")))
    assert not deaf.extensions["coner.revocations"].listener.trusted
    user, client = new_user(), deaf.test_client()
    for _ in range(3):
        assert client.get("/users/profile", headers=user.headers).get_json()["major"] is None
    db_conn.execute("UPDATE user_profiles SET major = 'History' WHERE user_id = %s", (user.id,))
    assert client.get("/users/profile", headers=user.headers).get_json()["major"] == "History"
    assert deaf.extensions["coner.profile_cache"].cache.hits == 0


def test_the_cache_is_bounded_and_expires(make_app, migrated_database, auth_server, new_user):
    small = make_app(app_settings(migrated_database, auth_server, PROFILE_CACHE_SIZE="2"))
    assert small.extensions["coner.revocations"].listener.wait_trusted(10)
    users = [new_user() for _ in range(3)]
    for user in users:
        assert small.test_client().get("/users/profile", headers=user.headers).status_code == 200
    entries = small.extensions["coner.profile_cache"].cache
    assert len(entries) == 2 and cached(small, users[0].id) is None  # the least recently used went first
    assert entries.ttl == profile_cache.CACHE_TTL > 0


@pytest.mark.slow
def test_on_gunicorn_every_worker_reads_a_patch_the_moment_it_answers(api_server, migrated_database,
                                                                       auth_server, app):
    """Three workers of one master (siblings: shared write stamps), and this process's app beside them as
    another server (acknowledgements): every one of them reads each PATCH, wherever it was sent."""
    api = api_server(app_settings(migrated_database, auth_server, **GENEROUS_LIMITS), workers=3, threads=4)
    here = app.test_client()
    try:
        email, _ = sign_up(api.url)
        headers = bearer(sign_in(api.url, email)["access_token"])
        assert httpx.put(f"{api.url}/users/profile-first", json=VALID, headers=headers, timeout=10).status_code == 200

        def schools(count: int = 60) -> set[str]:
            def one(_: int) -> str:
                with httpx.Client(timeout=10) as fresh:  # a fresh connection: the requests spread over the workers
                    return fresh.get(f"{api.url}/users/profile", headers=headers).json()["school"]

            with ThreadPoolExecutor(12) as pool:
                return set(pool.map(one, range(count)))

        assert schools() == {VALID["school"]}  # now cached on every worker
        assert app.extensions["coner.revocations"].listener.wait_trusted(10)
        for school in ("MIT", "Caltech"):
            assert here.get("/users/profile", headers=headers).get_json()["school"] != school
            answer = httpx.patch(f"{api.url}/users/profile", json={"school": school}, headers=headers, timeout=10)
            assert answer.status_code == 200, answer.text
            assert schools() == {school}
            assert here.get("/users/profile", headers=headers).get_json()["school"] == school
        answer = here.patch("/users/profile", json={"school": "Yale"}, headers=headers)
        assert answer.status_code == 200, answer.get_json()
        assert schools() == {"Yale"}
    finally:
        api.stop()


def test_on_by_default_with_5000_entries(make_app, migrated_database, auth_server):
    settings = app_settings(migrated_database, auth_server)
    del settings["PROFILE_CACHE_SIZE"]
    profiles = make_app(settings).extensions["coner.profile_cache"]
    assert profiles.enabled and profiles.cache.max_size == 5000


def test_off_nothing_is_kept_and_writes_send_no_purge(make_app, migrated_database, auth_server, new_user):
    plain = make_app(app_settings(migrated_database, auth_server, PROFILE_CACHE_SIZE="0"))
    assert not plain.extensions["coner.profile_cache"].enabled
    client, user = plain.test_client(), new_user()
    with psycopg.connect(migrated_database, autocommit=True) as listening:
        listening.execute(f"LISTEN {CHANNEL}")
        assert client.put("/users/profile-first", json=VALID, headers=user.headers).status_code == 200
        assert client.patch("/users/profile", json={"school": "MIT"}, headers=user.headers).status_code == 200
        assert client.get("/users/profile", headers=user.headers).get_json()["school"] == "MIT"
        # Notifications arrive in commit order: one the writes had sent would come before this marker.
        with psycopg.connect(migrated_database, autocommit=True) as other:
            other.execute("SELECT pg_notify(%s, 'marker')", (CHANNEL,))
        heard = []
        for note in listening.notifies(timeout=10):
            if note.payload == "marker":
                break
            heard.append(note.payload)
        else:
            pytest.fail("the marker never came")
    assert not [payload for payload in heard if profile_cache.message(user.user_id) in payload]
    assert len(plain.extensions["coner.profile_cache"].cache) == 0
