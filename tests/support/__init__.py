"""Helpers the tests share, by what they hold; tests import them from here and never from each other or
from a conftest.

servers   the processes tests run against: the stand-in (AuthServer), gunicorn (ApiServer, serving), apps in
          this process (running_app), app_settings, REPO, free ports and URLs where nothing listens
users     unique e-mails, users on the stand-in through the official client (sign_up_user, with_roles,
          supabase_admin, latest_otp), sign-up and sign-in through our API (sign_up, sign_in, bearer)
profiles  profile bodies (VALID)
mfa       two-factor sign-in through our API: enrol, TOTP codes (pyotp), verify, enrolled_user
faults    timed calls on fresh connections, hammer, warm, wait_until, child_pids, RowLock, BlackHole, timeouts
jwks      a controllable JWKS server, signing keys, FakeClock, token forging
tokens    the token tests' fixed moment, user, session and secret, `refused` (exactly 401), `swap_segment`
          (their fixtures: tests/tokens/conftest.py)
revocations  the product's Database without an app, Claims made by hand, a private database
logs      a server log's JSON lines and request lines, and the check that no secret is in a log
metrics   scraping /metrics and reading one sample
standin   the stand-in's own tests' tools (the `h` fixture of tests/local/)
redis_server  a private redis-server on a free port (RedisServer, start_redis)
"""
