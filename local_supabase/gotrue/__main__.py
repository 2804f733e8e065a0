"""Run the stand-in: `python -m local_supabase.gotrue` (settings from LOCAL_AUTH_* variables)."""
from __future__ import annotations

import logging
import signal
import sys
import threading

import psycopg
from werkzeug.serving import WSGIRequestHandler, make_server

from . import create_app
from .api import EXTENSION
from .keys import KeyStoreUnreadable, write_atomically
from .settings import Settings, SettingsError, from_env


def env_lines(settings: Settings, anon_key: str, service_role_key: str, jwt_secret: str) -> list[str]:
    """The `KEY=value` lines of `supabase.env` (like `supabase status -o env`)."""
    lines = [f"SUPABASE_URL={settings.base_url}", f"SUPABASE_ANON_KEY={anon_key}",
             f"SUPABASE_SERVICE_ROLE_KEY={service_role_key}"]
    if settings.jwt_alg == "HS256":
        lines.append(f"SUPABASE_JWT_SECRET={jwt_secret}")
    return lines


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's development server drops every header with an underscore in its name (against spoofing
    through proxies that map `-` and `_` alike); GoTrue reads one, `redirect_to` (utilities/request.go,
    getRedirectTo), which is passed on."""

    def make_environ(self):
        environ = super().make_environ()
        value = self.headers.get("redirect_to")
        if value is not None:
            environ["HTTP_REDIRECT_TO"] = value
        return environ


def main() -> int:
    """Serve until SIGTERM or SIGINT; exit 0 after a clean shutdown."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = from_env()
    except SettingsError as error:
        print(f"auth stand-in: {error}", file=sys.stderr)
        return 2
    try:
        app = create_app(settings)
    except psycopg.OperationalError as error:
        print(f"auth stand-in: cannot use the database at LOCAL_AUTH_DATABASE_URL: {error}", file=sys.stderr)
        return 1
    except KeyStoreUnreadable as error:
        print(f"auth stand-in: {error}", file=sys.stderr)
        return 1
    state = app.extensions[EXTENSION]
    try:
        server = make_server("127.0.0.1", settings.port, app, threaded=True, request_handler=_RequestHandler)
    except OSError as error:
        print(f"auth stand-in: cannot listen on 127.0.0.1:{settings.port}: {error}", file=sys.stderr)
        state.store.close()
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                               name="auth-stand-in", daemon=True)
    serving.start()
    # Only now, with the socket bound, announce the values: readers poll for this file.
    lines = env_lines(settings, state.keys.anon_key, state.keys.service_role_key, state.keys.legacy_secret)
    write_atomically(settings.data_dir / "supabase.env", "\n".join(lines) + "\n", mode=0o600)
    print(f"Local Supabase Auth stand-in ({settings.jwt_alg}) on {settings.base_url}/auth/v1", flush=True)
    for line in lines:
        print(f"  {line}", flush=True)
    print(f"  (written to {settings.data_dir / 'supabase.env'})", flush=True)
    stop.wait()  # a signal interrupts the wait; its handler sets the event
    server.shutdown()
    serving.join(10)
    state.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
