"""Profile bodies the /users tests send: `VALID`, a complete first-time setup that passes every rule; and
`another_server`, for apps that stand for the workers of another server."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from coner_api import shared_stamps

VALID = {
    "full_name": "Alice Smith",
    "dob": "1995-03-15",
    "sex": "female",
    "phone_number": "1234567890",
    "address": "123 Main St, San Francisco, CA 94102",
    "school": "Stanford University",
    "major": "Computer Science",
}


@contextmanager
def another_server() -> Iterator[None]:
    """Apps made inside belong to another server: write stamps (and so a broadcast group) of their own, as
    the workers of another gunicorn master would have. The apps of this process share one table otherwise,
    as the workers of one master do."""
    own = shared_stamps.prepare()
    shared_stamps._shared = shared_stamps.SharedStamps()
    try:
        yield
    finally:
        shared_stamps._shared = own
