-- mfa_used_codes: the codes Supabase accepted, kept while they are still current, so that each is accepted once
-- (mfa/service.py says why Supabase alone does not refuse a replay).

-- name: mfa_claim_code
-- One row per factor and code: a second claim of a live one finds it and returns nothing; an expired one is
-- taken over.
INSERT INTO mfa_used_codes (factor_id, code_digest, expires_at)
VALUES (%(factor_id)s, %(code_digest)s, now() + make_interval(secs => %(seconds)s))
ON CONFLICT (factor_id, code_digest) DO UPDATE SET expires_at = EXCLUDED.expires_at
 WHERE mfa_used_codes.expires_at <= now()
RETURNING factor_id

-- name: mfa_release_code
DELETE FROM mfa_used_codes WHERE factor_id = %(factor_id)s AND code_digest = %(code_digest)s

-- name: mfa_purge_used_codes
DELETE FROM mfa_used_codes WHERE expires_at < now()
