"""gunicorn settings for every environment (Procfile, `make run`, `make bench`).

Workers are processes, each with its own database pool opened by `create_app()` after the fork (no
`preload_app`: a pool's sockets and threads do not survive fork).

Chosen from `make bench` on a 2-core machine (README, Performance); worker CPU per request measured at the
same load with each setting, on balanced sockets (/auth/health, /users/profile):
- gthread: a worker keeps serving while some of its threads wait on Postgres or on Supabase Auth (sign-in,
  refresh and logout wait up to AUTH_TIMEOUT), and it keeps connections alive. Sync workers (3 of them) cost
  the same per request on the hot path, but tie a whole process to each such wait.
- 2 workers (one per core; WEB_CONCURRENCY) x 4 threads (GUNICORN_THREADS): 2 x 4 spent 191-206 / 387-395 µs
  of worker CPU per request, 2 x 2 211-224 / 379-404, 2 x 1 230 / 429-445, 3 x 1 227-236 / 437-444. One
  worker of 8 threads served less than half as much (threads queue on the GIL). Each worker costs ~92 MB.
- A listening socket per worker (SO_REUSEPORT, Linux): the kernel spreads new connections over the workers.
  On one shared socket whichever worker woke first accepted, and keep-alive connections stay where they land:
  in about a third of the benchmark runs all 64 connections sat on one worker and throughput halved. Each
  worker listens only while it can serve (from app load to the start of a stop); `coner_api.serving.worker`
  says how, and what is left.
"""
import inspect
import os
import sys

from coner_api import shared_stamps, shared_tokens
from coner_api.config import Config, ConfigError
from coner_api.serving import error_pages, memory, telemetry as gunicorn_telemetry
from coner_api.serving.read_ahead import read_timeout_setting
from coner_api.serving.worker import (BALANCED_LISTENERS, bind_without_listening, forget_reload, mark_reload,
                                     refuse_taken_address)


def _refuse(problem: str) -> None:
    # One line, from the master, before any worker forks: each worker would otherwise fail on its own, its
    # traceback beside the message, and the master add its own when they all die together.
    sys.exit(f"coner-api cannot start: {problem}")


def _whole_number(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        _refuse(f"{name} must be a whole number from 1 to 64 (got {raw!r})")
    return int(raw)


# The write stamps the workers share (coner_api/shared_stamps.py), made here in the master so that every
# worker it forks inherits the same table: a profile write then waits for no sibling's acknowledgement.
shared_stamps.prepare()
# Likewise the tokens any worker has verified (coner_api/shared_tokens.py): one ES256 check per token
# and server, not per worker.
shared_tokens.prepare()

# /metrics (METRICS_TOKEN set): the workers keep their metrics in files of one folder per server start; set up
# here, before any worker forks and imports prometheus_client (coner_api.serving.telemetry says why).
METRICS = bool(os.environ.get("METRICS_TOKEN", "").strip())
if METRICS:
    gunicorn_telemetry.prepare_metrics_dir()

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '').strip() or '8080'}"  # PORT: checked
workers = _whole_number("WEB_CONCURRENCY", 2)
if read_timeout_setting(os.environ.get("REQUEST_READ_TIMEOUT")) is None:
    _refuse(f"REQUEST_READ_TIMEOUT must be a number of seconds from 1 to 300 "
            f"(got {os.environ['REQUEST_READ_TIMEOUT']!r})")
worker_class = "coner_api.serving.worker.BalancedThreadWorker"  # gthread, balanced (see above)
reuse_port = BALANCED_LISTENERS
if reuse_port:
    bind_without_listening()  # each worker's socket joins the kernel's group only once its app has loaded
threads = _whole_number("GUNICORN_THREADS", 4)
# Heroku's router gives up after 30 s; finish or fail well before that.
timeout = 30
graceful_timeout = 20
keepalive = 5
preload_app = False
# Answers go through the worker's AnswerBuffer (coner_api/serving/write_behind.py); sendfile would write
# around it, out of order.
sendfile = False
# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which every
# instance on the machine (tests, `make run`, the benchmark's two servers) would fight over; nothing uses it.
control_socket_disable = True
# The app writes one line per request itself (coner_api/observability/telemetry.py: route template, user,
# duration, in the LOG_FORMAT), so gunicorn's access log is off unless GUNICORN_ACCESS_LOG names a destination ("-": stdout).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# Access lines carry the X-Request-ID the app answered with, so they join up with the app's log lines. The path
# is logged without its query string: /auth/callback's holds a sign-in code and its flow id.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
errorlog = "-"
# gunicorn's own lines in the app's format: JSON objects unless LOG_FORMAT=text (what `make run` sets).
if os.environ.get("LOG_FORMAT", "json").strip().lower() != "text":
    logger_class = "coner_api.serving.telemetry.JsonLogger"

# gunicorn's own refusals (request line or headers too long, malformed HTTP) answer in the API's JSON shape.
error_pages.install()


def on_starting(server):
    # Here rather than at import: `make bench` reads this file's settings in a process without the app's
    # environment.
    try:
        Config.from_env()
    except ConfigError as refused:
        _refuse(str(refused))
    if reuse_port:
        refuse_taken_address(server)
    if METRICS:
        gunicorn_telemetry.empty_metrics_dir(os.environ[gunicorn_telemetry.ENV])


def post_fork(server, worker):
    # Before the worker starts a thread: at most two malloc arenas (coner_api/serving/memory.py says why).
    memory.limit_malloc_arenas()


def child_exit(server, worker):
    if METRICS:
        gunicorn_telemetry.worker_gone(worker.pid)


def on_reload(server):
    # The old workers gunicorn stops next keep serving until a new one listens (serving/worker.py).
    if reuse_port:
        mark_reload(server.pid)


def on_exit(server):
    if reuse_port:
        forget_reload(server.pid)
    if METRICS:
        gunicorn_telemetry.remove_metrics_dir()


def when_ready(server):
    """Say where workers will listen (gunicorn's "Listening at:" line is empty when each worker binds its own
    socket), and say so when rate limits cannot be exact: memory storage is per process."""
    if reuse_port:
        addresses = ", ".join(f"http://{address}" for address in server.cfg.bind)
        server.log.info("Each worker serves %s on a socket of its own once its app has loaded", addresses)
    if workers > 1 and not os.environ.get("REDIS_URL", "").strip():
        server.log.warning("REDIS_URL is not set: each of the %d workers keeps its own rate-limit counts, "
                           "so a client may get up to %d x the configured limits", workers, workers)


def worker_exit(server, worker):
    """Close the worker's pools so Postgres sees clean disconnects on shutdown, and log its cache statistics
    (sizes, hits, misses: `make bench` reads them for its hit rates)."""
    app = inspect.unwrap(getattr(worker, "wsgi", None))  # the worker wraps its app (serving/unread_bodies.py)
    if app is not None and "coner.db" in getattr(app, "extensions", {}):
        import json

        from coner_api import cache_stats, close_app

        server.log.info("worker %s cache stats %s", worker.pid, json.dumps(cache_stats(app)))
        close_app(app)
