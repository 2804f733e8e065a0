-- Two-factor sign-in: TOTP codes Supabase Auth accepted, each kept (as a SHA-256 with its factor id, never the
-- code itself) until it can no longer be current, so that a code is accepted once (coner_api/mfa/service.py).
-- No factor, secret or status is stored here: those live in Supabase Auth.
CREATE TABLE mfa_used_codes (
    factor_id   uuid NOT NULL,
    code_digest bytea NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (factor_id, code_digest)
);
CREATE INDEX mfa_used_codes_expires_at_idx ON mfa_used_codes (expires_at);
