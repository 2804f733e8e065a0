-- auth.sessions (grants.py, callers.py, logout and the routes that end sessions).

-- name: insert_session
INSERT INTO sessions (id, user_id, amr) VALUES (%(id)s, %(user_id)s, %(amr)s) RETURNING *

-- name: find_session
SELECT id FROM sessions WHERE id = %(session_id)s

-- name: session_amr
-- The session's authentication method claims (GoTrue keeps them in mfa_amr_claims) and its level.
SELECT amr, aal FROM sessions WHERE id = %(session_id)s

-- name: lock_session
SELECT * FROM sessions WHERE id = %(session_id)s FOR UPDATE

-- name: touch_session
UPDATE sessions SET updated_at = now() WHERE id = %(session_id)s

-- name: delete_session
DELETE FROM sessions WHERE id = %(session_id)s

-- name: delete_sessions_of_user
DELETE FROM sessions WHERE user_id = %(user_id)s

-- name: delete_other_sessions_of_user
-- IS DISTINCT FROM: a caller without a session (no session_id claim) ends every session of the user.
DELETE FROM sessions WHERE user_id = %(user_id)s AND id IS DISTINCT FROM %(session_id)s
