-- auth.refresh_tokens (grants.py): each session's chain of tokens, one not revoked at its head.

-- name: insert_refresh_token
INSERT INTO refresh_tokens (token, user_id, session_id, parent)
VALUES (%(token)s, %(user_id)s, %(session_id)s, %(parent)s)

-- name: find_refresh_token
SELECT * FROM refresh_tokens WHERE token = %(token)s

-- name: reread_refresh_token
SELECT * FROM refresh_tokens WHERE id = %(id)s

-- name: active_refresh_token
SELECT * FROM refresh_tokens WHERE session_id = %(session_id)s AND NOT revoked ORDER BY id DESC LIMIT 1

-- name: oldest_active_refresh_token
SELECT * FROM refresh_tokens WHERE session_id = %(session_id)s AND NOT revoked ORDER BY created_at, id LIMIT 1

-- name: revoke_refresh_token
UPDATE refresh_tokens SET revoked = true, updated_at = now() WHERE id = %(id)s

-- name: revoke_refresh_tokens_of_session
UPDATE refresh_tokens SET revoked = true, updated_at = now() WHERE session_id = %(session_id)s AND NOT revoked
