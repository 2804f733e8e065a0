"""Client addresses for tests, so that the suite runs against stand-ins with hosted Supabase's rate limits on.

Hosted Supabase Auth keys its rate limits by client IP (GoTrue internal/api/middleware.go, limitHandler; the
stand-in's local_supabase/gotrue/ratelimits.py): 30 sign-ups per 5 minutes per address, 150 token grants.
The suite signs up and in thousands of times from one machine. As a real deployment does, each test client
comes from an address of its own: the API forwards it to Supabase in `Sb-Forwarded-For`, and the helpers
that arrange users directly on the stand-in send it themselves, with the service-role key as `apikey`, as the
API does (internal/sbff/sbff.go honours it from such a caller). Flask test clients get one each
(`AddressedClient`); test gunicorn servers trust one proxy hop, as on Heroku, and the helpers that sign up
and in against them send one in `X-Forwarded-For` (tests/support/servers.py, users.py).

Addresses come from 198.18.0.0/15, the block set aside for benchmark tests (RFC 2544): nothing real has them.
"""
from __future__ import annotations

import ipaddress
import itertools
import threading

from flask.testing import FlaskClient

_BLOCK = ipaddress.ip_network("198.18.0.0/15")
_numbers = itertools.count(1)
_lock = threading.Lock()


def next_address() -> str:
    """An address no other client of this session has had (until 131,070 of them are used: then again)."""
    with _lock:
        number = next(_numbers) % (_BLOCK.num_addresses - 2) + 1
    return str(_BLOCK.network_address + number)


class AddressedClient(FlaskClient):
    """Flask's test client, each one from an address of its own instead of everybody's 127.0.0.1."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.address = next_address()
        self.environ_base["REMOTE_ADDR"] = self.address
