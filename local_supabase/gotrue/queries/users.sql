-- auth.users (models.py, the admin routes).

-- name: find_user
SELECT * FROM users WHERE id = %(user_id)s

-- name: find_user_for_update
SELECT * FROM users WHERE id = %(user_id)s FOR UPDATE

-- name: find_user_by_email
SELECT * FROM users WHERE email = %(email)s AND deleted_at IS NULL

-- name: find_user_by_confirmation_token
-- models.FindUserByConfirmationToken (an OAuth sign-in's invite_token).
SELECT * FROM users WHERE confirmation_token = %(token)s

-- name: find_user_by_phone
SELECT id FROM users WHERE phone = %(phone)s

-- name: insert_user
INSERT INTO users (id, aud, role, email, phone, encrypted_password, email_confirmed_at, phone_confirmed_at,
                   invited_at, app_metadata, user_metadata)
VALUES (%(id)s, %(aud)s, %(role)s, %(email)s, %(phone)s, %(encrypted_password)s, %(email_confirmed_at)s,
        %(phone_confirmed_at)s, %(invited_at)s, %(app_metadata)s, %(user_metadata)s)
RETURNING *

-- name: update_user
-- Partial: a column changes only when its set_ flag is true (models.update_user sets one per column named).
UPDATE users
   SET aud                  = CASE WHEN %(set_aud)s THEN %(aud)s::text ELSE aud END,
       role                 = CASE WHEN %(set_role)s THEN %(role)s::text ELSE role END,
       email                = CASE WHEN %(set_email)s THEN %(email)s::text ELSE email END,
       encrypted_password   = CASE WHEN %(set_encrypted_password)s
                                   THEN %(encrypted_password)s::text ELSE encrypted_password END,
       email_confirmed_at   = CASE WHEN %(set_email_confirmed_at)s
                                   THEN %(email_confirmed_at)s::timestamptz ELSE email_confirmed_at END,
       invited_at           = CASE WHEN %(set_invited_at)s
                                   THEN %(invited_at)s::timestamptz ELSE invited_at END,
       phone                = CASE WHEN %(set_phone)s THEN %(phone)s::text ELSE phone END,
       phone_confirmed_at   = CASE WHEN %(set_phone_confirmed_at)s
                                   THEN %(phone_confirmed_at)s::timestamptz ELSE phone_confirmed_at END,
       confirmation_sent_at = CASE WHEN %(set_confirmation_sent_at)s
                                   THEN %(confirmation_sent_at)s::timestamptz ELSE confirmation_sent_at END,
       recovery_sent_at     = CASE WHEN %(set_recovery_sent_at)s
                                   THEN %(recovery_sent_at)s::timestamptz ELSE recovery_sent_at END,
       new_email            = CASE WHEN %(set_new_email)s THEN %(new_email)s::text ELSE new_email END,
       email_change_sent_at = CASE WHEN %(set_email_change_sent_at)s
                                   THEN %(email_change_sent_at)s::timestamptz ELSE email_change_sent_at END,
       last_sign_in_at      = CASE WHEN %(set_last_sign_in_at)s
                                   THEN %(last_sign_in_at)s::timestamptz ELSE last_sign_in_at END,
       app_metadata         = CASE WHEN %(set_app_metadata)s
                                   THEN %(app_metadata)s::jsonb ELSE app_metadata END,
       user_metadata        = CASE WHEN %(set_user_metadata)s
                                   THEN %(user_metadata)s::jsonb ELSE user_metadata END,
       banned_until         = CASE WHEN %(set_banned_until)s
                                   THEN %(banned_until)s::timestamptz ELSE banned_until END,
       deleted_at           = CASE WHEN %(set_deleted_at)s
                                   THEN %(deleted_at)s::timestamptz ELSE deleted_at END,
       confirmation_token   = CASE WHEN %(set_confirmation_token)s
                                   THEN %(confirmation_token)s::text ELSE confirmation_token END,
       recovery_token       = CASE WHEN %(set_recovery_token)s
                                   THEN %(recovery_token)s::text ELSE recovery_token END,
       email_change_token_current = CASE WHEN %(set_email_change_token_current)s
                                   THEN %(email_change_token_current)s::text
                                   ELSE email_change_token_current END,
       email_change_token_new = CASE WHEN %(set_email_change_token_new)s
                                   THEN %(email_change_token_new)s::text ELSE email_change_token_new END,
       email_change_confirm_status = CASE WHEN %(set_email_change_confirm_status)s
                                   THEN %(email_change_confirm_status)s::smallint
                                   ELSE email_change_confirm_status END,
       reauthentication_token = CASE WHEN %(set_reauthentication_token)s
                                   THEN %(reauthentication_token)s::text ELSE reauthentication_token END,
       reauthentication_sent_at = CASE WHEN %(set_reauthentication_sent_at)s
                                   THEN %(reauthentication_sent_at)s::timestamptz
                                   ELSE reauthentication_sent_at END,
       updated_at           = now()
 WHERE id = %(user_id)s
RETURNING *

-- name: confirm_phone
UPDATE users SET phone_confirmed_at = now() WHERE id = %(user_id)s

-- name: count_users
-- models.FindUsersInAudience: the audience's users, soft-deleted ones included; with a filter, a substring of
-- the e-mail (LIKE, so case-sensitive) or of user_metadata.full_name (ILIKE).
SELECT count(*) AS n
  FROM users
 WHERE aud = %(aud)s
   AND (%(filter)s::text IS NULL OR email LIKE %(filter)s OR user_metadata->>'full_name' ILIKE %(filter)s)

-- name: page_users_newest_first
SELECT *
  FROM users
 WHERE aud = %(aud)s
   AND (%(filter)s::text IS NULL OR email LIKE %(filter)s OR user_metadata->>'full_name' ILIKE %(filter)s)
 ORDER BY created_at DESC, id
 LIMIT %(limit)s OFFSET %(offset)s

-- name: page_users_oldest_first
SELECT *
  FROM users
 WHERE aud = %(aud)s
   AND (%(filter)s::text IS NULL OR email LIKE %(filter)s OR user_metadata->>'full_name' ILIKE %(filter)s)
 ORDER BY created_at ASC, id
 LIMIT %(limit)s OFFSET %(offset)s

-- name: delete_user
-- Cascades to the user's identities, sessions, refresh tokens, one-time tokens and flow states.
DELETE FROM users WHERE id = %(user_id)s
