"""How much of a connection's bytes the worker's event loop waits for before a thread takes the request
(coner_api/serving/read_ahead.py; on a real gunicorn: tests/test_gunicorn_worker.py)."""
from __future__ import annotations

import pytest

from coner_api.serving.read_ahead import BODY_LIMIT, HEAD_LIMIT, expected_length

HEAD = b"POST /auth/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def test_nothing_is_whole_until_the_head_has_ended():
    assert expected_length(b"") is None
    assert expected_length(HEAD) is None
    head = b"GET /auth/health HTTP/1.1\r\nHost: x\r\n\r\n"
    assert expected_length(head) == expected_length(head + b"GET /next") == len(head)


def test_a_body_of_announced_length_is_waited_for():
    for header in (b"Content-Length: 12", b"content-LENGTH:\t12 "):
        request = HEAD + header + b"\r\n\r\n"
        assert expected_length(request) == len(request) + 12


@pytest.mark.parametrize("header", [b"Transfer-Encoding: chunked", b"Expect: 100-continue",
                                    b"Content-Length: 1\r\nContent-Length: 1",
                                    b"Content-Length: %d" % (BODY_LIMIT + 1), b"Content-Length: -1",
                                    b"Content-Length: 1e3"])
def test_bodies_the_thread_reads_or_gunicorn_refuses_are_not_waited_for(header):
    """Chunked (no length), behind Expect (sent only when asked), twice or oddly announced (gunicorn refuses
    it), or over the limit (the app refuses it unread): the head alone is handed over."""
    request = HEAD + header + b"\r\n\r\n"
    assert expected_length(request) == len(request)


def test_a_head_that_never_ends_is_handed_over_past_the_limit():
    """gunicorn's parser then refuses it (its own limits are lower), rather than the event loop reading on."""
    assert expected_length(b"GET / HTTP/1.1\r\nX: " + b"a" * HEAD_LIMIT) is not None
