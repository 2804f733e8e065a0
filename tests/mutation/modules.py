"""What `make mutation` mutates, the fast in-process tests each module is run against, and the surviving
mutants set aside as equivalent (with why: no test can tell them from the original)."""
from __future__ import annotations

# module (under coner_api/sessions/) -> the test files that are its contract. Only in-process tests: mutmut
# runs them once per mutant, so no gunicorn, and Postgres only where the module is about Postgres.
TESTS: dict[str, list[str]] = {
    "tokens": ["tests/tokens/"],
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
    # tokens.py
    'coner_api.sessions.tokens.x__b64_bytes__mutmut_21':
        "'ASCII' for 'ascii': codec names are case-insensitive",
    'coner_api.sessions.tokens.x__b64_json__mutmut_3':
        'the label of a refusal reason (debug log only)',
    'coner_api.sessions.tokens.x__b64_json__mutmut_12':
        "'UTF-8' for 'utf-8': codec names are case-insensitive",
    'coner_api.sessions.tokens.xǁTokenVerifierǁ__init____mutmut_10':
        'cache_size < 0 and cache_ttl < 0: BoundedCache itself refuses a negative size or TTL with the same ValueError',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ__init____mutmut_34':
        "the cache built without the injected clock: verify passes `now` (from the injected clock) to every get and put, so the cache's own clock is never read",
    'coner_api.sessions.tokens.xǁTokenVerifierǁ__init____mutmut_38':
        'as __init____mutmut_34 (the clock argument left out)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_verify_uncached__mutmut_8':
        'the label of a refusal reason (debug log only)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_verify_uncached__mutmut_12':
        'the label of a refusal reason (debug log only)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_verify_uncached__mutmut_13':
        'the label of a refusal reason (debug log only)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_verify_uncached__mutmut_17':
        'the label of a refusal reason (debug log only)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_verify_uncached__mutmut_21':
        'the label of a refusal reason (debug log only)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_verify_uncached__mutmut_22':
        'the label of a refusal reason (debug log only)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_verify_uncached__mutmut_26':
        'the label of a refusal reason (debug log only)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_verify_uncached__mutmut_30':
        'the label of a refusal reason (debug log only)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_verify_uncached__mutmut_31':
        'the label of a refusal reason (debug log only)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_verify_uncached__mutmut_47':
        "'ASCII' for 'ascii': codec names are case-insensitive",
    'coner_api.sessions.tokens.xǁTokenVerifierǁverify__mutmut_10':
        "'ASCII' for 'ascii': codec names are case-insensitive",
    'coner_api.sessions.tokens.xǁTokenVerifierǁverify__mutmut_14':
        'the cache asked without `now`: it reads its own clock, the same injected one, microseconds later',
    'coner_api.sessions.tokens.xǁTokenVerifierǁverify__mutmut_16':
        'as verify__mutmut_14',
    'coner_api.sessions.tokens.xǁTokenVerifierǁverify__mutmut_50':
        'as verify__mutmut_14, for the put',
    'coner_api.sessions.tokens.xǁTokenVerifierǁverify__mutmut_54':
        'as verify__mutmut_14, for the put',
    'coner_api.sessions.tokens.x__unpadded_b64__mutmut_6':
        "a segment of 3 mod 4 characters padded with '===' instead of '=': the lenient decoder ignores padding past the last quantum (2 mod 4 gets '==' either way)",
    'coner_api.sessions.tokens.xǁTokenVerifierǁ__init____mutmut_53':
        "the issuer left out of the shared key: a sibling only vouches for tokens of its own iss, and every hit checks iss again (_claims), so a verifier of another issuer still refuses them, counted as a miss",
    'coner_api.sessions.tokens.xǁTokenVerifierǁ__init____mutmut_57':
        "verifiers without a secret mix 'XXXX' instead of '': no secret can be 'XXXX' (32 bytes at least), so the same verifiers agree",
    'coner_api.sessions.tokens.xǁTokenVerifierǁ__init____mutmut_59':
        'the shared key of a verifier without a table: never read',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_binding__mutmut_2':
        "the secret's binding spelled otherwise: every verifier spells it the same, and it is no 32-byte key digest",
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_binding__mutmut_3':
        'as _binding__mutmut_2',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_binding__mutmut_4':
        "the per-key memo never read: the same SHA-256 of the same key recomputed (~3-7 µs), no decision changes",
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_binding__mutmut_5':
        'as _binding__mutmut_4 (looked up under None)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_binding__mutmut_6':
        'as _binding__mutmut_4 (looked up under id(None))',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_binding__mutmut_9':
        'as _binding__mutmut_4 (a digest is never the key object: always recomputed)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_binding__mutmut_10':
        'as _binding__mutmut_4: the memo holds its key object, so an id found there is always that key (recomputed, never stale)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_binding__mutmut_11':
        'the memo cleared past 65 key objects instead of 64: memory only, a binding is recomputed the same',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_binding__mutmut_27':
        'as _binding__mutmut_4 (stored under id(None), never found)',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_vouched_claims__mutmut_20':
        'a kid missing from the held key set raises AttributeError instead of giving None: caught, the same miss',
    'coner_api.sessions.tokens.xǁTokenVerifierǁ_vouched_claims__mutmut_42':
        "rpartition instead of partition: only a token the table vouches for is decoded, and it was verified in full, with exactly three segments (one '.' in rest)",
    # jwks.py
    'coner_api.sessions.jwks.x_http_fetch__mutmut_15':
        "the method spelled 'get': httpx upper-cases it",
    'coner_api.sessions.jwks.x_http_fetch__mutmut_17':
        "the Accept header's name in another case: header names are case-insensitive",
    'coner_api.sessions.jwks.x_http_fetch__mutmut_18':
        'as x_http_fetch__mutmut_17',
    'coner_api.sessions.jwks.x_http_fetch__mutmut_23':
        'the body of a non-200 answer: _fetch_key_set refuses the status before reading the body',
    'coner_api.sessions.jwks.x_http_fetch__mutmut_29':
        'the declared Content-Length never read: the byte count while streaming refuses the same responses, only later',
    'coner_api.sessions.jwks.x_http_fetch__mutmut_30':
        "Content-Length looked up in upper case: httpx's headers are case-insensitive",
    'coner_api.sessions.jwks.x_http_fetch__mutmut_31':
        "as x_http_fetch__mutmut_29 (a missing length read as 'XXXX', which is no number)",
    'coner_api.sessions.jwks.x_http_fetch__mutmut_39':
        'the deadline compared with >= instead of >: the same instant on a monotonic float clock is not observable',
    'coner_api.sessions.jwks.x_http_fetch__mutmut_4':
        'follow_redirects=None: httpx treats it as False (its default), so redirects are still not followed',
    'coner_api.sessions.jwks.x_http_fetch__mutmut_6':
        "follow_redirects left out: httpx's default is False",
    'coner_api.sessions.jwks.xǁJwksCacheǁ__init____mutmut_38':
        "_last_attempt starts as '' instead of None: it is set before any failure, and only read after one",
    'coner_api.sessions.jwks.xǁJwksCacheǁ__init____mutmut_40':
        '_last_failed starts as None instead of False: only ever read as a truth value',
    'coner_api.sessions.jwks.xǁJwksCacheǁ__init____mutmut_43':
        'the attempt counter starts at 1: only compared with an earlier reading of itself',
    'coner_api.sessions.jwks.xǁJwksCacheǁ_fetch_key_set__mutmut_15':
        "'UTF-8' for 'utf-8': codec names are case-insensitive",
    'coner_api.sessions.jwks.xǁJwksCacheǁ_fetch_single_flight__mutmut_23':
        'the text of a log line (whether a set is cached)',
    'coner_api.sessions.jwks.xǁJwksCacheǁ_fetch_single_flight__mutmut_24':
        'the text of a log line',
    'coner_api.sessions.jwks.xǁJwksCacheǁ_fetch_single_flight__mutmut_26':
        'the text of a log line',
    'coner_api.sessions.jwks.xǁJwksCacheǁ_fetch_single_flight__mutmut_27':
        'the text of a log line',
    'coner_api.sessions.jwks.xǁJwksCacheǁ_fetch_single_flight__mutmut_30':
        'the attempt counter counts down: only compared (!=) with an earlier reading of itself',
    'coner_api.sessions.jwks.xǁJwksCacheǁ_fetch_single_flight__mutmut_31':
        'the attempt counter counts in twos: as _fetch_single_flight__mutmut_30',
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
    # broadcast.py
    'coner_api.sessions.broadcast.xǁListenerǁbroadcast__mutmut_11':
        "send returns False instead of True: write_announced only asks whether the write returned None",
    'coner_api.sessions.broadcast.xǁListenerǁwrite_announced__mutmut_9':
        'expects a listener heard exactly TRUST_WINDOW ago: an exact float instant',
    'coner_api.sessions.broadcast.xǁListenerǁwrite_announced__mutmut_26':
        'remaining < 0 instead of <= 0: an exact float instant of the monotonic clock',
    'coner_api.sessions.broadcast.xǁListenerǁwrite_announced__mutmut_29':
        'complete=None instead of False for /metrics: only read as a truth value',
    'coner_api.sessions.broadcast.xǁListenerǁstop__mutmut_2':
        'joins the listener thread for 6 s instead of 5: it ends within milliseconds of _stopping',
    'coner_api.sessions.broadcast.xǁListenerǁstop__mutmut_4':
        'as stop__mutmut_2, for the heartbeat thread',
    'coner_api.sessions.broadcast.xǁListenerǁwait_trusted__mutmut_7':
        'remaining < 0 instead of <= 0: an exact float instant of the monotonic clock',
    'coner_api.sessions.broadcast.xǁListenerǁ_run__mutmut_35':
        'polls notifications every HEARTBEAT_INTERVAL / 3 instead of / 2: notifications are handed over as they arrive; only the silence check runs a little more often',
    'coner_api.sessions.broadcast.xǁListenerǁ_heartbeat__mutmut_3':
        "rpartition instead of partition on '<listener id>|<number>': neither part holds a '|'",
    'coner_api.sessions.broadcast.xǁListenerǁ_heartbeat__mutmut_8':
        'forgets a listener heard exactly 2 × TRUST_WINDOW ago: an exact float instant',
    'coner_api.sessions.broadcast.xǁListenerǁ_heartbeat__mutmut_21':
        'moves the proof to a heartbeat sent at exactly the same instant: the same value',
    'coner_api.sessions.broadcast.xǁListenerǁ_purge__mutmut_3':
        "rpartition instead of partition on '<event id>|<message>': no message holds a '|'",
    'coner_api.sessions.broadcast.xǁListenerǁ_purge__mutmut_8':
        "the kind read as everything before the last ':': the one subscriber's messages (mfa:<user id>) have a single ':', and any other message goes to the revocations either way",
    'coner_api.sessions.broadcast.xǁListenerǁ_acknowledged__mutmut_3':
        "rpartition instead of partition on '<event id>|<listener id>': neither part holds a '|'",
    'coner_api.sessions.broadcast.xǁListenerǁ_beat__mutmut_2':
        'heartbeat numbers start at 2: still unique',
    'coner_api.sessions.broadcast.xǁListenerǁ_beat__mutmut_6':
        'heartbeat numbers count down: still unique',
    'coner_api.sessions.broadcast.xǁListenerǁ_beat__mutmut_7':
        'heartbeat numbers count in twos: still unique',
    'coner_api.sessions.broadcast.xǁListenerǁ_beat__mutmut_12':
        'forgets a heartbeat sent exactly TRUST_WINDOW ago: an exact float instant',
    'coner_api.sessions.broadcast.xǁListenerǁbroadcast__mutmut_9':
        'expects the listeners heard exactly TRUST_WINDOW ago too: an exact float instant',
    'coner_api.sessions.broadcast.xǁListenerǁbroadcast__mutmut_29':
        'gives up when remaining < 0 instead of <= 0: an exact float instant (the next wait returns at once)',
    'coner_api.sessions.broadcast.xǁListenerǁbroadcast__mutmut_32':
        "complete=None instead of False: read as a truth value, the same 'timeout' label",
    'coner_api.sessions.broadcast.xǁListenerǁ_run__mutmut_4':
        'proven_ever and warned start as None instead of False: only ever read as truth values',
    'coner_api.sessions.broadcast.xǁListenerǁ_run__mutmut_7':
        'proven_here starts as None instead of False: only ever read as a truth value',
    'coner_api.sessions.broadcast.xǁListenerǁ_run__mutmut_56':
        'warns when exactly NO_PROOF_WARNING has passed instead of just after: an exact float instant',
    'coner_api.sessions.broadcast.xǁListenerǁ_run__mutmut_60':
        'drops a connection silent for exactly RECONNECT_AFTER instead of just over: an exact float instant',
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
