"""/metrics under gunicorn with two workers: whichever worker answers a scrape reports every worker's counts
(prometheus_client's multiprocess mode, set up by gunicorn.conf.py), the metrics folder is emptied when the
server starts, and a worker that exits stops counting in the live gauges but keeps its counted requests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.support.faults import child_pids, wait_until
from tests.support.logs import request_lines
from tests.support.metrics import parse, value
from tests.support.servers import REPO, app_settings

pytestmark = pytest.mark.slow

TOKEN = "two-workers-metrics-token"
REQUESTS = 40
POOL_MAX = 10
COUNT = "coner_http_request_duration_seconds_count"
HEALTH = {"method": "GET", "route": "/auth/health", "status": "200"}
STALE_WRITER = """
from coner_api.observability import metrics
metrics.observe_request("GET", "/left-by-an-earlier-server", 200, 0.001)
"""


def scrape(url: str) -> tuple[dict, int]:
    """One scrape on a fresh connection: its samples and the pid of the worker that answered."""
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text[:300]
    return parse(response.text), response.headers["X-Request-ID"]


def test_a_scrape_of_either_worker_counts_both_and_survives_a_worker_exit(api_server, migrated_database,
                                                                          auth_server, tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    subprocess.run([sys.executable, "-c", STALE_WRITER], cwd=REPO, env=env, check=True, timeout=60)
    assert list(folder.glob("histogram_*.db"))

    settings = app_settings(migrated_database, auth_server, METRICS_TOKEN=TOKEN, DB_POOL_MAX=str(POOL_MAX))
    server = api_server(settings, workers=2, PROMETHEUS_MULTIPROC_DIR=str(folder))
    for number in range(REQUESTS):  # each on a new connection: the kernel spreads them over both sockets
        assert httpx.get(f"{server.url}/auth/health", headers={"X-Request-ID": f"spread-{number}"},
                         timeout=10).status_code == 200
    served_by = {line["pid"] for line in request_lines(server.log()) if line["request_id"].startswith("spread-")}
    assert len(served_by) == 2, "the requests all landed on one worker"

    # Scrape until both workers have answered one; every answer counts all the requests.
    answered_by: set[int] = set()

    def both_answered() -> bool:
        samples, request_id = scrape(server.url)
        assert value(samples, COUNT, **HEALTH) == REQUESTS
        assert not any("left-by-an-earlier-server" in str(key) for key in samples)
        answered_by.update(line["pid"] for line in request_lines(server.log()) if line["request_id"] == request_id)
        return answered_by == served_by

    wait_until(both_answered, timeout=30, what="a scrape answered by each worker", interval=0)
    # Live gauges add up the live workers: each samples its pool within 5 s of starting.
    wait_until(lambda: value(scrape(server.url)[0], "coner_db_pool_max_connections") == 2 * POOL_MAX,
               timeout=15, what="both workers' pool gauges")

    gone = sorted(served_by)[0]
    listening = server.log().count("listening at")
    os.kill(gone, signal.SIGTERM)
    wait_until(lambda: server.log().count("listening at") > listening and gone not in child_pids(server.process.pid),
               timeout=30, what="gunicorn replacing the worker")
    [replacement] = child_pids(server.process.pid) - served_by

    def answered_by_replacement() -> dict | None:
        samples, request_id = scrape(server.url)  # the answering worker samples its own gauges first
        pids = {line["pid"] for line in request_lines(server.log()) if line["request_id"] == request_id}
        return samples if pids == {replacement} else None

    # Once the replacement has answered, its gauges are in; the gone worker's left with it (else 3 pools),
    # and the requests it served are still counted.
    samples = wait_until(answered_by_replacement, timeout=30, what="a scrape answered by the new worker", interval=0)
    assert value(samples, "coner_db_pool_max_connections") == 2 * POOL_MAX
    assert value(samples, COUNT, **HEALTH) == REQUESTS


MASTER_IMPORTS = """
import runpy, sys
runpy.run_path("gunicorn.conf.py")
print(sorted(name for name in ("prometheus_client", "coner_api.sessions", "coner_api.db")
             if name in sys.modules))
"""


def test_the_master_loads_its_configuration_without_the_modules_its_workers_must_import_themselves():
    # prometheus_client imported in the master before gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR would count
    # each worker on its own (a scrape: only the worker that answered); and a module the master holds is not
    # loaded again by the workers of a SIGHUP reload.
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run([sys.executable, "-c", MASTER_IMPORTS], cwd=REPO, capture_output=True, text=True,
                          env={**env, "METRICS_TOKEN": TOKEN}, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "[]"
