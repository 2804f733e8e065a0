"""Answers a client is slow to take are sent by the worker's event loop, not by a thread.

gunicorn's thread writes its answer with `sendall` on a blocking socket, and SO_SNDTIMEO bounds each
`send()`, not the answer: a client that reads a few hundred bytes every few seconds (four connections, 40
pipelined `GET /openapi.json` each) held every thread of a worker for as long as it liked, and one that never
reads held a thread ~30 s per connection (an audit). Here the thread writes through `AnswerBuffer`: what the
kernel takes at once goes at once (`MSG_DONTWAIT`; for every answer of ordinary size, all of it), the rest is
kept, and once the thread has returned the event loop sends it as the socket drains (`ReadAhead`'s
finish_request), closing the connection if the client has not taken it within ANSWER_TIMEOUT. Only then does
the connection go on (kept alive, its next request read ahead, or closed), so a connection holds at most one
answer (the largest, /openapi.json, ~170 KB). gunicorn.conf.py turns gunicorn's `sendfile` off: it would
write around the buffer.
"""
from __future__ import annotations

import socket
from typing import Any

# How long the loop keeps sending an answer the client is slow to take (Heroku's router gives up at 30 s).
ANSWER_TIMEOUT = 30.0


class AnswerBuffer:
    """The socket as a thread's answer sees it (`conn.sock` during gunicorn's handle_request)."""

    __slots__ = ("sock", "pending")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = bytearray()  # what the kernel has not taken yet, for the loop

    def sendall(self, data: Any) -> None:
        if self.pending:  # behind what waits already: in order
            self.pending += data
            return
        view = memoryview(data)
        try:
            sent = self.sock.send(view, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent < len(view):
            self.pending += view[sent:]

    def send_pending(self) -> bool:
        """Send what the socket takes now, without waiting (the loop); True once nothing is left. Raises
        OSError when the client is gone."""
        while self.pending:
            try:
                sent = self.sock.send(self.pending, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return False
            del self.pending[:sent]
        return True

    def __getattr__(self, name: str) -> Any:  # everything else is the socket's own
        return getattr(self.sock, name)
