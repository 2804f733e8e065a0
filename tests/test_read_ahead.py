"""How much of a connection's bytes the worker's event loop waits for before a thread takes the request
(coner_api/serving/read_ahead.py; on a real gunicorn: tests/test_gunicorn_worker.py)."""
from __future__ import annotations

import socket
import struct
import time

import pytest

from coner_api.serving.read_ahead import (BODY_LIMIT, HEAD_LIMIT, HEAD_TOO_LARGE, NOT_A_HEAD,
                                          REQUEST_READ_TIMEOUT, Body, _RequestDeadline, expected_length)

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


@pytest.mark.parametrize("header", [b"Content-Length: 1\r\nContent-Length: 1",
                                    b"Content-Length: %d" % (BODY_LIMIT + 1), b"Content-Length: -1",
                                    b"Content-Length: 1e3", b"Content-Length: " + b"9" * 30,
                                    b"Transfer-Encoding: chunked\r\nContent-Length: 2",
                                    b"Transfer-Encoding: chunked, gzip", b"Transfer-Encoding: xchunked",
                                    b"Transfer-Encoding: chunked,", b"Transfer-Encoding: gzip",
                                    b"Expect: 100-continue, x", b"Expect: 100-continue\r\nExpect: x"])
def test_bodies_gunicorn_or_the_app_refuses_are_not_waited_for(header):
    """Twice or oddly announced, both framings, a coding after `chunked` or unknown, an unknown expectation
    (gunicorn refuses it), or over the limit (the app refuses it unread): the head alone is handed over."""
    request = HEAD + header + b"\r\n\r\n"
    assert expected_length(request) == len(request)


def test_every_content_length_gunicorn_reads_is_waited_for():
    """gunicorn takes any run of digits (isnumeric, int): leading zeros too. Handed over as a head alone, such
    a body was read by a thread, which a client trickling it held."""
    request = HEAD + b"Content-Length: 0000000000000012\r\n\r\n"
    assert expected_length(request) == len(request) + 12


@pytest.mark.parametrize("encoding", [b"gzip, chunked", b"identity, chunked", b"Identity,Chunked",
                                      b"deflate\r\nTransfer-Encoding: chunked", b"compress ,\tchunked"])
def test_every_chunked_framing_gunicorn_reads_is_followed(encoding):
    """Message.set_body_reader: any of identity/gzip/deflate/compress may come before a last `chunked`, in one
    header or several."""
    head = HEAD + b"Transfer-Encoding: " + encoding + b"\r\n\r\n"
    body = expected_length(head)
    assert isinstance(body, Body) and body.length(head) is None
    assert body.length(head + b"0\r\n\r\n") == len(head) + 5


def chunked(*pieces: bytes) -> tuple[Body, bytes]:
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    body = expected_length(head)
    assert isinstance(body, Body) and body.continue_lines is None
    return body, head + b"".join(pieces)


def test_a_chunked_body_is_followed_chunk_by_chunk_until_its_end():
    body, request = chunked(b"5\r\nhello\r\n", b"3;ext=1\r\nabc\r\n", b"0\r\n\r\n")
    for cut in range(len(HEAD) + 30, len(request)):  # however it arrives, it is whole only at its end
        assert body.length(request[:cut]) is None, cut
    assert body.length(request) == len(request)
    assert body.length(request + b"GET /next") == len(request)  # a pipelined request is not its business


def test_a_chunked_body_with_trailers_ends_after_them():
    body, request = chunked(b"2\r\n{}\r\n", b"0\r\nX-Check: 1\r\n\r\n")
    assert body.length(request[:-2]) is None and body.length(request) == len(request)


@pytest.mark.parametrize("pieces", [(b"zz\r\n{}",), (b"2\r\n{}XX0\r\n\r\n",), (b" 2\r\n",)],
                         ids=["size", "terminator", "blank-before-size"])
def test_broken_chunk_framing_is_handed_over_at_once(pieces):
    """gunicorn's reader refuses it (400) from what has come: nothing more is waited for."""
    body, request = chunked(*pieces)
    assert body.length(request) == len(request)


def test_a_chunk_announced_past_the_limit_is_handed_over_at_once_marked_too_large():
    body, request = chunked(b"%x\r\nxx" % (BODY_LIMIT + 1))
    assert body.length(request) == len(request) and body.too_large


def test_expect_100_continue_is_answered_by_the_loop_which_then_waits_for_the_body():
    head = HEAD + b"Content-Length: 2\r\nExpect: 100-CONTINUE\r\n\r\n"
    body = expected_length(head)
    assert isinstance(body, Body) and body.length(head) == len(head) + 2
    [(start, end)] = body.continue_lines  # what is dropped before gunicorn parses the head
    assert head[:start] + head[end:] == HEAD + b"Content-Length: 2\r\n\r\n"
    twice = HEAD + b"Expect: 100-continue\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    assert len(expected_length(twice).continue_lines) == 2  # gunicorn takes a repeat: both are dropped
    http10 = head.replace(b"HTTP/1.1", b"HTTP/1.0")  # which ignores the expectation (RFC 9110 §10.1.1)
    assert expected_length(http10) == len(http10) + 2


def test_a_head_past_the_limit_is_too_large_ended_or_not():
    """The loop answers it 431 (gunicorn's parser would take up to 819,204 bytes, a thread reading them)."""
    assert expected_length(b"GET / HTTP/1.1\r\nX: " + b"a" * HEAD_LIMIT) == HEAD_TOO_LARGE
    fields = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"a" * 4000) for n in range(17))
    assert expected_length(b"GET / HTTP/1.1\r\n" + fields + b"\r\n") == HEAD_TOO_LARGE
    nine = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"a" * 4000) for n in range(9))
    assert expected_length(b"GET / HTTP/1.1\r\n" + nine + b"\r\n") == len(nine) + 18  # 36 KB: fine


def test_trailers_past_the_limit_are_too_large():
    body, request = chunked(b"0\r\n", b"X-Trailer: " + b"a" * HEAD_LIMIT)
    assert body.length(request) == len(request) and body.fields_too_large


def test_an_http_1_0_request_after_an_empty_line_gets_no_100_continue():
    """gunicorn skips empty lines before a request line (RFC 9112 §2.2): the version is the request line's."""
    head = b"\r\nPOST /auth/logout HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    assert expected_length(head) == len(head) + 2


@pytest.mark.parametrize("data", [b"GET /health HTTP/1.1\nHost: x\n\n", b"GET\n", b"\n",
                                  b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", b" GET / HTTP/1.1\r\n",
                                  b"\r\n\x00"],
                         ids=["bare-lf", "bare-lf-method", "lf", "tls-hello", "space-first",
                              "nul-after-crlf"])
def test_bytes_no_request_can_start_with_are_handed_over_at_once(data):
    """A request line ending in a bare LF, or a first character no method has (a TLS handshake on this plain
    port): gunicorn's parser would wait for a CRLF until the read timeout; handed over now, it is refused."""
    assert expected_length(data) == NOT_A_HEAD


@pytest.mark.parametrize("data", [b"", b"\r", b"\r\n", b"\r\nG", b"GET / HTTP/1.1\r",
                                  b"GET / HTTP/1.1\r\nHost: x\n"])
def test_the_start_of_a_request_is_waited_on(data):
    """Empty lines may come first (RFC 9112 §2.2), a CRLF may come in two pieces, and a bare LF after the
    request line is gunicorn's to judge once the head has ended."""
    assert expected_length(data) is None


def test_a_thread_reads_a_request_until_its_deadline_only():
    """The backstop under what a thread still reads (its parser's socket): a read past the request's deadline
    fails as one past SO_RCVTIMEO does, and a read near it may wait only what is left."""
    ours, theirs = socket.socketpair()
    try:
        reading = _RequestDeadline(ours)
        reading.deadline = time.monotonic() + REQUEST_READ_TIMEOUT / 4
        theirs.sendall(b"GET")
        assert reading.recv(16) == b"GET"
        waits, micros = struct.unpack("ll", ours.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
        assert 0 < waits + micros / 1e6 <= REQUEST_READ_TIMEOUT / 4
        sends = struct.unpack("ll", ours.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16))
        assert sends == (0, 0)  # the answer's writes keep their own timeout (none on this pair)
        reading.deadline = time.monotonic() + 2 * REQUEST_READ_TIMEOUT  # the next request's: a whole timeout
        theirs.sendall(b"T")
        assert reading.recv(16) == b"T"
        waits, micros = struct.unpack("ll", ours.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
        assert waits + micros / 1e6 == REQUEST_READ_TIMEOUT
        reading.deadline = time.monotonic() + 1e-7  # less than the kernel's microsecond: still a timeout
        waits_at_least = time.monotonic()
        with pytest.raises(BlockingIOError):
            reading.recv(16)  # nothing to read: fails after its millisecond instead of waiting for ever
        assert time.monotonic() - waits_at_least < REQUEST_READ_TIMEOUT
        reading.deadline = time.monotonic() - 1
        theirs.sendall(b" /")
        with pytest.raises(BlockingIOError):
            reading.recv(16)
        assert reading.fileno() == ours.fileno()  # anything else is the socket's own
    finally:
        ours.close()
        theirs.close()
