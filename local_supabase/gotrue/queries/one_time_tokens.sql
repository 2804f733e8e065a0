-- auth.one_time_tokens (mail.py, verification.py, models.py): the token hashes that links and `token_hash`
-- verifications are looked up by (GoTrue models/one_time_token.go).

-- name: issue_one_time_token
-- CreateOneTimeToken: one token per user and type, a new one replaces the last.
INSERT INTO one_time_tokens (id, user_id, token_type, token_hash, relates_to)
VALUES (%(id)s, %(user_id)s, %(token_type)s, %(token_hash)s, %(relates_to)s)
ON CONFLICT (user_id, token_type) DO UPDATE
   SET token_hash = EXCLUDED.token_hash, relates_to = EXCLUDED.relates_to, flow_id = NULL, created_at = now()

-- name: find_one_time_token
-- FindOneTimeToken: the exact stored hash (with its pkce_ prefix, if any) among the given types. Locked, so
-- that of two verifications of one token the second finds it gone.
SELECT *
  FROM one_time_tokens
 WHERE token_hash = %(token_hash)s AND token_type = ANY(%(token_types)s)
 ORDER BY created_at DESC LIMIT 1
   FOR UPDATE

-- name: delete_one_time_tokens_of_type
-- ClearOneTimeTokenForUser.
DELETE FROM one_time_tokens WHERE user_id = %(user_id)s AND token_type = %(token_type)s

-- name: delete_one_time_tokens_of_user
-- ClearAllOneTimeTokensForUser.
DELETE FROM one_time_tokens WHERE user_id = %(user_id)s
