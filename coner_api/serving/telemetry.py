"""gunicorn's side of the logs and the metrics, for gunicorn.conf.py.

- `JsonLogger`: gunicorn's own lines (workers booting, signals, errors) in the app's JSON shape, so that with
  `LOG_FORMAT=json` every line a server writes is one JSON object. Its optional access log
  (`GUNICORN_ACCESS_LOG`) keeps gunicorn's text format: the app's own request line replaces it.
- The metrics folder (`PROMETHEUS_MULTIPROC_DIR`), where each worker keeps its metrics in files that a scrape
  of any worker adds up (observability/metrics.py). One per server start: made before the workers fork (the variable must
  be set when a worker first imports prometheus_client), emptied when the server starts (counts of an earlier
  server would otherwise be added in), a dead worker's live gauges dropped when it exits (its counters stay:
  the requests it served happened), and removed when the server stops if this module made it.
"""
from __future__ import annotations

import glob
import os
import shutil
import tempfile
from typing import Any

from gunicorn.glogging import Logger

from ..observability.logs import JsonFormatter

ENV = "PROMETHEUS_MULTIPROC_DIR"
_OWNED = "CONER_METRICS_DIR_OWNED"  # set beside ENV when the folder is ours to remove


class JsonLogger(Logger):
    """gunicorn's Logger, writing its error log (everything but access lines) as JSON lines."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


def prepare_metrics_dir(environ: Any = os.environ) -> str:
    """The folder for this server's metrics, exported to the workers through the environment: the one
    `PROMETHEUS_MULTIPROC_DIR` names (made if missing), else a new temporary folder. A configuration reload
    (SIGHUP) reads this file again and finds the variable set: same folder."""
    path = (environ.get(ENV) or "").strip()
    if not path:
        path = tempfile.mkdtemp(prefix="coner-metrics-")
        environ[_OWNED] = path
    os.makedirs(path, exist_ok=True)
    environ[ENV] = path
    return path


def empty_metrics_dir(path: str) -> None:
    """Remove the metric files of an earlier server (only prometheus_client's `*.db` files)."""
    for name in glob.glob(os.path.join(path, "*.db")):
        os.remove(name)


def worker_gone(pid: int) -> None:
    """A worker exited: its live gauges (pool, caches) no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def remove_metrics_dir(environ: Any = os.environ) -> None:
    path = environ.get(_OWNED)
    if path and path == environ.get(ENV):
        shutil.rmtree(path, ignore_errors=True)
