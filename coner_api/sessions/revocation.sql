-- name: revocation_state
-- The user's global-logout cutoff and whether this session was logged out, in one round trip.
SELECT (SELECT logout_at FROM user_profiles WHERE user_id = %(user_id)s) AS logout_at,
       EXISTS (SELECT 1 FROM revoked_sessions
               WHERE session_id = %(session_id)s::uuid AND expires_at > now()) AS session_revoked

-- name: revoke_session
INSERT INTO revoked_sessions (session_id, user_id, expires_at)
VALUES (%(session_id)s, %(user_id)s, %(expires_at)s)
ON CONFLICT (session_id) DO UPDATE SET expires_at = GREATEST(revoked_sessions.expires_at, EXCLUDED.expires_at)

-- name: purge_expired_revocations
DELETE FROM revoked_sessions WHERE expires_at < now()

-- name: recent_logout_cutoffs
-- Every cutoff that can still refuse a token of at most %(seconds)s lifetime; one row more than the cap tells
-- the caller that the set would be incomplete.
SELECT user_id, logout_at FROM user_profiles
 WHERE logout_at > now() - make_interval(secs => %(seconds)s)
 LIMIT %(limit)s

-- name: live_revoked_sessions
SELECT session_id, expires_at FROM revoked_sessions WHERE expires_at > now() LIMIT %(limit)s

-- name: revoked_sessions_of_user
-- The user's sessions ended by /auth/logout whose tokens are still refused, for their data export.
SELECT session_id, revoked_at, expires_at FROM revoked_sessions
 WHERE user_id = %(user_id)s AND expires_at > now()
 ORDER BY revoked_at
