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
    # jwks.py
    'coner_api.sessions.jwks.x__header_max_age__mutmut_17':
        'the no-cache pattern upper-cased, still searched with IGNORECASE: the same matches',
    'coner_api.sessions.jwks.x__header_max_age__mutmut_18':
        'no-cache read as max-age 1 instead of 0: both are below the floor min(5 s, max_age), which is what the set then gets (max_age <= 1 gives max_age either way)',
    'coner_api.sessions.jwks.xǁJwksCacheǁrefresh__mutmut_2':
        'refresh passes None as the attempts it saw: with force=True that argument is never read',
    'coner_api.sessions.jwks.x_parse_jwks__mutmut_62':
        'PyJWK without the algorithm infers it from kty/crv: ES256 for EC P-256, RS256 for RSA, the one _expected_alg chose (a declared alg must already equal it)',
    'coner_api.sessions.jwks.x_parse_jwks__mutmut_64':
        'as x_parse_jwks__mutmut_62',
    'coner_api.sessions.jwks.xǁJwksCacheǁget_key__mutmut_25':
        'waiting for a fetch seen in flight with None as the attempts seen: that fetch has always completed (and counted) when the lock is acquired, so both reuse its outcome',
    'coner_api.sessions.jwks.xǁJwksCacheǁget_key__mutmut_37':
        'the kid-miss refetch acquires without waiting: the lock was just seen free, so it succeeds the same (unless another thread takes it within those few instructions, which no test can stage)',
    'coner_api.sessions.jwks.xǁJwksCacheǁget_key__mutmut_40':
        'as get_key__mutmut_37',
    'coner_api.sessions.jwks.xǁJwksCacheǁ_fetch_single_flight__mutmut_13':
        "the reused outcome of another thread's fetch is returned inverted, but only to get_key, which ignores it (refresh forces its own fetch)",
    'coner_api.sessions.jwks.xǁJwksCacheǁ_fetch_single_flight__mutmut_16':
        '_last_failed = None instead of False: only ever read as a truth value',
    # revocation.py
    'coner_api.sessions.revocation.xǁRevocationsǁ__init____mutmut_16':
        "the listener's load on a pool connection instead of its own: the same rows (as recent.load__mutmut_7: only the order against a concurrent commit differs, which no deterministic test can stage)",
    'coner_api.sessions.revocation.xǁRevocationsǁ__init____mutmut_18':
        'as __init____mutmut_16 (the connection argument left out)',
    # recent.py
    'coner_api.sessions.recent.xǁRecentRevocationsǁ_prune__mutmut_6':
        'keeps a cutoff exactly HORIZON + MARGIN old one prune longer; it can refuse no unexpired token (iat <= cutoff and exp - iat <= HORIZON put exp MARGIN in the past)',
    'coner_api.sessions.recent.xǁRecentRevocationsǁ_prune__mutmut_8':
        'keeps a session whose row expires at this very instant one prune longer; Postgres already treats it as expired and no token of it is still valid',
    'coner_api.sessions.recent.xǁRecentRevocationsǁapply__mutmut_38':
        'prunes when exactly PRUNE_EVERY has passed instead of just after: pruning only drops entries that can refuse nothing, so when it happens changes no answer',
    'coner_api.sessions.recent.xǁRecentRevocationsǁapply__mutmut_7':
        "rpartition instead of partition on '<id>:<epoch>': the ids (UUIDs) hold no ':', so both split at the same place",
    'coner_api.sessions.recent.xǁRecentRevocationsǁload__mutmut_7':
        "reads the cutoffs on a pool connection instead of the listener's: the same rows; the connection only orders the read against a revocation committed concurrently, a race no deterministic test can stage",
    'coner_api.sessions.recent.xǁRecentRevocationsǁload__mutmut_10':
        "as load__mutmut_7 (the connection argument left out: the pool's)",
    'coner_api.sessions.recent.xǁRecentRevocationsǁload__mutmut_21':
        'as load__mutmut_7, for the revoked sessions',
    'coner_api.sessions.recent.xǁRecentRevocationsǁload__mutmut_24':
        'as load__mutmut_7, for the revoked sessions',
}
