-- auth.one_time_tokens (mail.py, verification.py): the hashes of the OTPs and links e-mails carry.

-- name: issue_one_time_token
-- One token per user and type: a new one replaces the last.
INSERT INTO one_time_tokens (id, user_id, token_type, token_hash, relates_to, flow_id)
VALUES (%(id)s, %(user_id)s, %(token_type)s, %(token_hash)s, %(relates_to)s, %(flow_id)s)
ON CONFLICT (user_id, token_type) DO UPDATE
   SET token_hash = EXCLUDED.token_hash, relates_to = EXCLUDED.relates_to, flow_id = EXCLUDED.flow_id,
       created_at = now()

-- name: find_one_time_token_by_hash
SELECT *
  FROM one_time_tokens
 WHERE token_hash = %(token_hash)s AND token_type = ANY(%(token_types)s)
 ORDER BY created_at DESC LIMIT 1
   FOR UPDATE

-- name: find_one_time_token_by_otp
-- An OTP counts only together with the address it was sent to.
SELECT *
  FROM one_time_tokens
 WHERE token_hash = %(token_hash)s AND token_type = ANY(%(token_types)s) AND relates_to = %(email)s
 ORDER BY created_at DESC LIMIT 1
   FOR UPDATE

-- name: pending_email_change_token
SELECT id FROM one_time_tokens WHERE user_id = %(user_id)s AND token_type LIKE 'email_change%%'

-- name: delete_one_time_token
DELETE FROM one_time_tokens WHERE id = %(id)s

-- name: delete_one_time_tokens_of_type
DELETE FROM one_time_tokens WHERE user_id = %(user_id)s AND token_type = %(token_type)s
