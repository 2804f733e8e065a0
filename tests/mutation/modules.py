"""What `make mutation` mutates, the fast in-process tests each module is run against, and the surviving
mutants set aside as equivalent (with why: no test can tell them from the original)."""
from __future__ import annotations

# module (under coner_api/sessions/) -> the test files that are its contract. Only in-process tests: mutmut
# runs them once per mutant, so no gunicorn, and Postgres only where the module is about Postgres.
TESTS: dict[str, list[str]] = {
    "tokens": ["tests/test_tokens.py", "tests/test_tokens_boundaries.py"],
    "jwks": ["tests/test_jwks.py", "tests/test_jwks_cache_control.py"],
    "roles": ["tests/test_roles.py"],
    "guard": ["tests/test_guard.py"],
    "recent": ["tests/test_recent_set.py"],
    "revocation": ["tests/test_revocation_state.py"],
    "broadcast": ["tests/test_broadcast.py"],
}

# Modules whose tests need Postgres: the driver starts one embedded cluster for the whole run (unless
# TEST_DATABASE_URL names one), instead of one per mutant.
NEEDS_POSTGRES = {"guard", "recent", "revocation", "broadcast"}

# mutant name -> why it cannot change behaviour. Names are mutmut's (`mutmut show <name>` prints the diff);
# they stay stable while the function they belong to is unchanged.
EQUIVALENT: dict[str, str] = {
}
