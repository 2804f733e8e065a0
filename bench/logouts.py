"""How fast a logout-all reaches every process: within one gunicorn (every worker), and across two gunicorn
masters on one Postgres and one Redis, as two dynos would be. The API answers 204 only once every process
has applied the purge or provably stopped trusting its caches, so no request sent after the 204 may get a 200
with the old token anywhere."""
from __future__ import annotations

import statistics
import threading
import time

import httpx

from . import harness as h
from .population import Users


def logout_all_reach(users: Users, api_url: str, workers: int, trials: int = 5) -> tuple[list[float], int]:
    """Milliseconds from sending POST /auth/logout-all to its 204; and how many requests with the old token
    still got a 200 after it (on fresh connections, spread over the workers; must be 0)."""
    timings, stale = [], 0
    me = f"{api_url}/auth/me"
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10) as fresh:
        for _ in range(trials):
            headers = {"Authorization": f"Bearer {users.token()}"}
            for _ in range(10 * workers):  # every worker has verified the token
                fresh.get(me, headers=headers).raise_for_status()
            started = time.perf_counter()
            answer = fresh.post(f"{api_url}/auth/logout-all", headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 204:
                raise SystemExit(f"logout-all answered {answer.status_code} {answer.text}")
            stale += sum(fresh.get(me, headers=headers).status_code == 200 for _ in range(10 * workers))
    return timings, stale


def two_masters(users: Users, first: h.Server, second: h.Server, workers: int,
                trials: int = 5) -> list[str]:
    """Logout-all on the first master while a client polls the second with the old token: when the second
    first refused it, and how many of its 200s answered requests sent after the 204 (must be 0)."""
    answered, refused, stale_total = [], [], 0
    for _ in range(trials):
        token = users.token()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10) as fresh:
            for _ in range(10 * workers):  # both masters' workers have verified it
                fresh.get(f"{first.url}/auth/me", headers=headers).raise_for_status()
                fresh.get(f"{second.url}/auth/me", headers=headers).raise_for_status()
        polls: list[tuple[float, float, int]] = []  # (sent, answered, status) on the second master
        done = threading.Event()

        def poll() -> None:
            with httpx.Client(timeout=10) as client:
                while not done.is_set():
                    sent = time.perf_counter()
                    status = client.get(f"{second.url}/auth/me", headers=headers).status_code
                    polls.append((sent, time.perf_counter(), status))

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.05)
        started = time.perf_counter()
        answer = httpx.post(f"{first.url}/auth/logout-all", headers=headers, timeout=10)
        ended = time.perf_counter()
        time.sleep(0.05)
        done.set()
        poller.join()
        if answer.status_code != 204:
            raise SystemExit(f"logout-all answered {answer.status_code} {answer.text}")
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10) as fresh:
            stale_total += sum(fresh.get(f"{second.url}/auth/me", headers=headers).status_code == 200
                               for _ in range(10 * workers))
        stale_total += sum(1 for sent, _, status in polls if sent >= ended and status == 200)
        first_refusal = min((got for _, got, status in polls if status == 401), default=float("nan"))
        answered.append((ended - started) * 1000)
        refused.append((first_refusal - started) * 1000)
    return ["### Two processes (two gunicorn masters on one Postgres and one Redis)", "",
            f"Logout-all on the first ({trials} trials): 204 after median {statistics.median(answered):.1f} ms "
            f"(max {max(answered):.1f}); the second first refused the old token after median "
            f"{statistics.median(refused):.1f} ms (max {max(refused):.1f}); old-token 200s on the second for "
            f"requests sent after the 204: {stale_total}", "", "Targets:",
            h.check("two processes: old-token 200s after the 204", stale_total, 0, "≤"), ""]
