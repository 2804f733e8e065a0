"""The library internals the product overrides are still there, in the shape it relies on, and the installed
versions are inside the ranges setup.cfg pins. An upgrade that moves any of them fails here, loudly, instead
of silently changing a worker's socket handling, an error page or the OpenAPI document.

What is overridden, and where:
- gunicorn: `ThreadWorker.init_process / load_wsgi / handle_exit / accept` and `set_accept_enabled`; for
  reading requests in the event loop, `ThreadWorker.on_client_socket_readable / murder_pending / handle /
  enqueue_req`, `TConn` (its `init`, `data_ready`, `close`, the parser's `unreader.unread`)
  (coner_api/serving/read_ahead.py);
  `sock.create_sockets` as the arbiter calls it in a new worker, and `BaseSocket._is_listening`, which
  decides whether a socket is made to listen (coner_api/serving/worker.py); `gunicorn.util.write_error`,
  looked up at call time by the workers (coner_api/serving/error_pages.py).
- flask-smorest: the `_apidoc` record its documentation decorators leave on a view (coner_api/blueprint.py
  keeps it and drops their wrappers), `Blueprint.ARGUMENTS_PARSER`, `Api.ERROR_SCHEMA` and
  `Api._register_responses` (coner_api/api_docs.py).
- webargs: `FlaskParser.load_json`, `is_json_request` and `abort` (coner_api/blueprint.py).
- psycopg: `Connection.wait(gen, interval, timeout)`, its `_WAIT_INTERVAL` default and `errors._WaitTimeout`
  (coner_api/query_deadlines.py).
"""
from __future__ import annotations

import configparser
import inspect
from importlib.metadata import version

import flask_smorest
import pytest
from gunicorn import arbiter, sock, util
from gunicorn.workers import base, gthread
from packaging.requirements import Requirement
from webargs import flaskparser

from tests.support.servers import REPO


def pinned() -> dict[str, Requirement]:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    lines = [line.strip() for line in config["options"]["install_requires"].splitlines()]
    requirements = [Requirement(line) for line in lines if line and not line.startswith("#")]
    return {requirement.name.lower(): requirement for requirement in requirements}


@pytest.mark.parametrize("package", ["gunicorn", "flask-smorest", "webargs", "psycopg"])
def test_installed_versions_are_inside_the_pinned_ranges(package):
    requirement = pinned()[package]
    assert requirement.specifier, f"{package} must be pinned to a range: the product overrides its internals"
    assert "<" in str(requirement.specifier), f"{package} needs an upper bound: {requirement}"
    assert requirement.specifier.contains(version(package)), (package, version(package), str(requirement))


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_gunicorn_thread_worker_hooks():
    worker = gthread.ThreadWorker
    assert parameters(worker.init_process) == ["self"]
    assert parameters(worker.load_wsgi) == ["self"]
    assert parameters(worker.handle_exit) == ["self", "sig", "frame"]
    assert parameters(worker.accept) == ["self", "listener"]
    assert parameters(worker.set_accept_enabled) == ["self", "enabled"]
    # The attributes the overrides read.
    source = inspect.getsource(gthread.ThreadWorker) + inspect.getsource(base.Worker)
    for attribute in ("self.sockets", "self.alive", "self.cfg", "self.log"):
        assert attribute in source, attribute


def test_gunicorn_thread_worker_request_reading_hooks():
    worker = gthread.ThreadWorker
    assert parameters(worker.on_client_socket_readable) == ["self", "conn", "client"]
    assert parameters(worker.murder_pending) == ["self"]
    assert parameters(worker.handle) == ["self", "conn"]
    assert parameters(worker.enqueue_req) == ["self", "conn"]
    assert parameters(gthread.TConn.__init__) == ["self", "cfg", "sock", "client", "server"]
    assert parameters(gthread.TConn.init) == ["self"]
    assert parameters(gthread.TConn.close) == ["self", "graceful"]
    handle = inspect.getsource(worker.handle)
    # handle() skips its wait for a first byte when data_ready is set, and parses from conn.parser.
    assert "conn.data_ready" in handle and "next(conn.parser)" in handle
    source = inspect.getsource(worker)
    for attribute in ("self.poller", "self.keepalived_conns", "self.nr_conns", "self.murder_pending()",
                      "partial(self.on_client_socket_readable, conn)"):
        assert attribute in source, attribute
    assert "self.unreader" in inspect.getsource(__import__("gunicorn.http.parser", fromlist=["Parser"]).Parser)
    assert parameters(__import__("gunicorn.http.unreader", fromlist=["Unreader"]).Unreader.unread) == ["self", "data"]
    # A keep-alive answer whose connection already buffers the next request's bytes goes back to a thread at
    # once: read_ahead.finish_request takes those bytes (take_buffered) and reads the rest in the loop.
    assert parameters(worker.finish_request) == ["self", "conn", "fs"]
    finish = inspect.getsource(worker.finish_request)
    assert "result is _DEFER" in finish and "conn.parser.unreader.buf.getvalue()" in finish
    unreader = __import__("gunicorn.http.unreader", fromlist=["Unreader"]).Unreader
    assert parameters(unreader.take_buffered) == ["self"]


def test_gunicorn_drains_an_unread_body_up_to_a_limit_and_lets_the_app_force_a_close():
    """coner_api/serving/unread_bodies.py: the limit it compares with, the Response behind start_response, and
    the body reader whose remaining length it reads; for a chunked body, its reader, the `failed` mark a read
    that raised leaves, and the parser's errors it turns into a 400."""
    from gunicorn.http import body, errors, message, parser, wsgi

    from coner_api.serving import unread_bodies

    assert unread_bodies.DRAIN_LIMIT == parser._DRAIN_MAX_BYTES == 64 * 1024
    assert "max_bytes = _DRAIN_MAX_BYTES" in inspect.getsource(parser.Parser.finish_body)
    assert parameters(wsgi.Response.force_close) == ["self"]
    assert "self.status_code = int(" in inspect.getsource(wsgi.Response.start_response)
    handle_request = inspect.getsource(gthread.ThreadWorker.handle_request)
    assert "respiter = self.wsgi(environ, resp.start_response)" in handle_request
    assert "self.length -= size" in inspect.getsource(body.LengthReader.read)
    assert "Body(ChunkedReader(" in inspect.getsource(message.Message.set_body_reader)
    assert "self.failed = True" in inspect.getsource(body.Body._read_reader)
    assert 'if getattr(body, "failed", False) is True:' in inspect.getsource(parser.Parser.finish_body)
    for error in (errors.InvalidChunkSize, errors.ChunkMissingTerminator, errors.InvalidChunkExtension):
        assert issubclass(error, errors.ParseException)


def test_gunicorn_makes_a_workers_sockets_through_create_sockets_which_asks_is_listening():
    assert parameters(sock.create_sockets) == ["conf", "log", "fds"]
    assert isinstance(sock.BaseSocket.__dict__["_is_listening"], staticmethod)
    assert "if not self._is_listening(sock):" in inspect.getsource(sock.BaseSocket.set_options)
    # In the child, after the fork and before post_fork: looked up on the module at call time.
    spawn = inspect.getsource(arbiter.Arbiter.spawn_worker)
    assert "worker.sockets = sock.create_sockets(self.cfg, self.log)" in spawn


def test_gunicorn_writes_its_error_pages_through_util_write_error_at_call_time():
    assert parameters(util.write_error) == ["sock", "status_int", "reason", "mesg"]
    assert callable(util.write_nonblock)
    # Looked up as an attribute of the module on every call, so replacing it in the module takes effect.
    assert "util.write_error(" in inspect.getsource(base.Worker.handle_error)


def test_flask_smorest_documentation_decorators_leave_an_apidoc_record():
    blueprint = flask_smorest.Blueprint("probe", __name__)

    def view():
        return "x"

    documented = blueprint.doc(summary="s")(view)
    assert hasattr(documented, "_apidoc") and documented._apidoc
    alt = blueprint.alt_response(404, description="d")(view)
    assert "response" in alt._apidoc and 404 in alt._apidoc["response"].get("responses", {})
    assert hasattr(flask_smorest.Blueprint, "ARGUMENTS_PARSER")
    assert hasattr(flask_smorest.Api, "ERROR_SCHEMA") and callable(flask_smorest.Api._register_responses)


def test_webargs_flask_parser_hooks():
    parser = flaskparser.FlaskParser
    assert parameters(parser.load_json) == ["self", "req", "schema"]
    assert callable(flaskparser.is_json_request)
    assert "messages" in inspect.getsource(flaskparser.abort) or "kwargs" in str(inspect.signature(flaskparser.abort))


def test_psycopg_waits_for_every_round_trip_through_a_connections_wait_with_a_timeout():
    import psycopg
    from psycopg import connection, cursor, errors

    assert parameters(psycopg.Connection.wait) == ["self", "gen", "interval", "timeout"]
    assert inspect.signature(psycopg.Connection.wait).parameters["interval"].default == connection._WAIT_INTERVAL
    assert issubclass(errors._WaitTimeout, psycopg.OperationalError)
    # Statements, COMMIT and the pool's check all go through self.wait (only connect waits otherwise).
    assert "self._conn.wait(" in inspect.getsource(cursor)
    assert "self.wait(self._commit_gen())" in inspect.getsource(connection)
