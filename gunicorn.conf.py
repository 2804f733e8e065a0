"""gunicorn settings for every environment (Procfile, `make run`, the benchmark).

Workers are processes, each with its own database pool opened by `create_app()` after the fork (no
`preload_app`: a pool's sockets and threads do not survive fork). gthread workers let one process serve
several requests while others wait on Postgres or Supabase Auth.
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
reuse_port = True
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
