"""gunicorn settings for every environment (Procfile, `make run`, `make bench`).

Workers are processes, each with its own database pool opened by `create_app()` after the fork (no
`preload_app`: a pool's sockets and threads do not survive fork).

Chosen from `make bench` on a 2-core machine (README, Performance):
- gthread: a worker keeps serving while some of its threads wait on Postgres or on Supabase Auth (sign-in,
  refresh and logout wait up to AUTH_TIMEOUT), and it keeps connections alive. Sync workers would tie a whole
  process to each such wait.
- 2 workers (one per core; WEB_CONCURRENCY): the hot path is CPU-bound Python, so one process per core. One
  worker of 8 threads served less than half as much (threads queue on the GIL); 3 or 4 workers of 2 threads
  did no better than 2 x 4 and cost ~90 MB each.
- 4 threads (GUNICORN_THREADS): within the noise of 2 on the hot path, and more room for requests that wait
  on Supabase Auth.
- One listening socket shared by the workers (no reuse_port). Keep-alive connections stay with the worker
  that accepted them, and whichever worker wakes first accepts: in about one benchmark run in four, all 64
  connections landed on one worker and throughput halved. `reuse_port` (one SO_REUSEPORT socket per worker,
  spread by the kernel) fixed that, but each worker binds its socket before it has loaded the app, so
  connections hashed to a booting or restarting worker wait for it (8 s and a 503 in a test under load) or
  are reset when it exits; the shared socket never strands a connection. `make bench` copes with the skew
  by pairing and taking medians over rounds.
"""
import os

from coner_api import server_errors

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Heroku's router gives up after 30 s; finish or fail well before that.
timeout = 30
graceful_timeout = 20
keepalive = 5
preload_app = False
# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which every
# instance on the machine (tests, `make run`, the benchmark's two servers) would fight over; nothing uses it.
control_socket_disable = True
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# Access lines carry the X-Request-ID the app answered with, so they join up with the app's log lines.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
errorlog = "-"

# gunicorn's own refusals (request line or headers too long, malformed HTTP) answer in the API's JSON shape.
server_errors.install()


def when_ready(server):
    """Say so when rate limits cannot be exact: memory storage is per process."""
    if workers > 1 and not os.environ.get("REDIS_URL", "").strip():
        server.log.warning("REDIS_URL is not set: each of the %d workers keeps its own rate-limit counts, "
                           "so a client may get up to %d x the configured limits", workers, workers)


def worker_exit(server, worker):
    """Close the worker's pools so Postgres sees clean disconnects on shutdown."""
    app = getattr(worker, "wsgi", None)
    if app is not None and "coner.db" in getattr(app, "extensions", {}):
        from coner_api import close_app

        close_app(app)
