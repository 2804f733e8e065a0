-- Every user_profiles query (profiles.py, accounts.py, revocation.py). Every statement is keyed by the token's user id, and every
-- write is a single statement so that concurrent requests cannot interleave a read and a write.

-- name: profile_ensure
-- Create the row on first use, else refresh last_seen_at only when it is more than a minute old. One round
-- trip; the UPDATE runs only when the INSERT did nothing, and a fresh row is neither written nor locked.
WITH created AS (
  INSERT INTO user_profiles (user_id, email)
  VALUES (%(user_id)s, %(email)s)
  ON CONFLICT (user_id) DO NOTHING
  RETURNING user_id
)
UPDATE user_profiles
   SET last_seen_at = now()
 WHERE user_id = %(user_id)s
   AND NOT EXISTS (SELECT 1 FROM created)
   AND last_seen_at < now() - interval '1 minute'

-- name: profile_get_legacy
SELECT user_id AS id, display_name, avatar_url, email, profession, company, bio, skills, work_style,
       years_experience, linkedin_url, portfolio_url, created_at, updated_at, last_seen_at, is_deleted
  FROM user_profiles
 WHERE user_id = %(user_id)s AND NOT is_deleted

-- name: profile_update_legacy
-- Partial: a column changes only when its flag is set, evaluated against the row version being updated.
UPDATE user_profiles
   SET display_name = CASE WHEN %(set_display_name)s THEN %(display_name)s::varchar ELSE display_name END,
       avatar_url   = CASE WHEN %(set_avatar_url)s THEN %(avatar_url)s::text ELSE avatar_url END,
       updated_at   = now()
 WHERE user_id = %(user_id)s AND NOT is_deleted
RETURNING user_id AS id, display_name, avatar_url, email, profession, company, bio, skills, work_style,
          years_experience, linkedin_url, portfolio_url, created_at, updated_at, last_seen_at, is_deleted

-- name: profile_get
SELECT full_name, dob, sex, phone_number, address, school, major
  FROM user_profiles
 WHERE user_id = %(user_id)s AND NOT is_deleted

-- name: profile_state
-- Why a write matched no row: missing/deleted profile, or the first-time setup state.
SELECT profile_initialized_at IS NOT NULL AS initialized
  FROM user_profiles
 WHERE user_id = %(user_id)s AND NOT is_deleted

-- name: profile_first_time_setup
-- Exactly once per user: concurrent callers queue on the row lock and re-check the WHERE against the
-- committed row, so only the first one still sees profile_initialized_at IS NULL. The row written sends the
-- user's profile-cache purge, committed with it (profiles/cache.py); no row written, no purge.
WITH written AS (
  UPDATE user_profiles
     SET full_name = %(full_name)s,
         dob = %(dob)s::date,
         sex = %(sex)s,
         phone_number = %(phone_number)s,
         address = %(address)s,
         school = %(school)s,
         major = %(major)s,
         profile_initialized_at = now(),
         updated_at = now()
   WHERE user_id = %(user_id)s AND NOT is_deleted AND profile_initialized_at IS NULL
  RETURNING full_name, dob, sex, phone_number, address, school, major
)
SELECT written.* FROM written
  LEFT JOIN LATERAL (SELECT pg_notify(%(purge_channel)s, %(purge_payload)s)
                      WHERE %(purge_channel)s::text IS NOT NULL) AS purge ON true

-- name: profile_patch
-- Partial update after setup; full_name and sex are never written here (locked after the first setup). The
-- row written sends the user's profile-cache purge, committed with it (profiles/cache.py).
WITH written AS (
  UPDATE user_profiles
     SET dob          = CASE WHEN %(set_dob)s THEN %(dob)s::date ELSE dob END,
         phone_number = CASE WHEN %(set_phone_number)s THEN %(phone_number)s::varchar ELSE phone_number END,
         address      = CASE WHEN %(set_address)s THEN %(address)s::varchar ELSE address END,
         school       = CASE WHEN %(set_school)s THEN %(school)s::varchar ELSE school END,
         major        = CASE WHEN %(set_major)s THEN %(major)s::varchar ELSE major END,
         updated_at   = now()
   WHERE user_id = %(user_id)s AND NOT is_deleted AND profile_initialized_at IS NOT NULL
  RETURNING full_name, dob, sex, phone_number, address, school, major
)
SELECT written.* FROM written
  LEFT JOIN LATERAL (SELECT pg_notify(%(purge_channel)s, %(purge_payload)s)
                      WHERE %(purge_channel)s::text IS NOT NULL) AS purge ON true

-- name: create_profile_at_signup
-- The profile row of a new account; a repeated sign-up of an unconfirmed address keeps the existing row.
INSERT INTO user_profiles (user_id, email, display_name, is_email_verified)
VALUES (%(user_id)s, %(email)s, %(display_name)s, %(email_verified)s)
ON CONFLICT (user_id) DO NOTHING

-- name: mark_email_verified
INSERT INTO user_profiles (user_id, email, is_email_verified)
VALUES (%(user_id)s, %(email)s, true)
ON CONFLICT (user_id) DO UPDATE
SET is_email_verified = true, email = COALESCE(user_profiles.email, EXCLUDED.email), updated_at = now()

-- name: profile_follow_email
-- The address the account has in Supabase now (after an e-mail change), and verified when the change was
-- confirmed here. Writes only when something differs, so a sign-in or refresh of an unchanged account
-- writes nothing.
UPDATE user_profiles
   SET email = %(email)s, is_email_verified = is_email_verified OR %(verified)s, updated_at = now()
 WHERE user_id = %(user_id)s AND NOT is_deleted
   AND (email IS DISTINCT FROM %(email)s OR (%(verified)s AND NOT is_email_verified))

-- name: profile_export
-- Every column of the user's row, for their data export (GET /users/me/export).
SELECT * FROM user_profiles WHERE user_id = %(user_id)s

-- name: set_logout_cutoff
-- Global logout: every token issued at or before this instant is refused from now on.
INSERT INTO user_profiles (user_id, email, logout_at)
VALUES (%(user_id)s, %(email)s, now())
ON CONFLICT (user_id) DO UPDATE SET logout_at = now(), updated_at = now()
RETURNING logout_at

-- Admin user management (coner_api/admin_users.py) ------------------------------------------------------

-- name: admin_profiles
-- The profile rows of some users, as an admin sees them (deleted rows included, marked as such).
SELECT user_id AS id, display_name, avatar_url, email, profession, company, bio, skills, work_style,
       years_experience, linkedin_url, portfolio_url, full_name, dob, sex, phone_number, address, school,
       major, is_email_verified, profile_initialized_at, created_at, updated_at, last_seen_at, is_deleted
  FROM user_profiles
 WHERE user_id = ANY(%(user_ids)s::uuid[])

-- name: admin_profile_deleted
-- Whether the row exists and is already marked deleted (to finish or refuse a repeated DELETE).
SELECT is_deleted FROM user_profiles WHERE user_id = %(user_id)s

-- name: admin_mark_profile_deleted
-- The row and its id stay, for audit and for the logout cutoff that keeps refusing the deleted user's
-- tokens; every personal field is cleared. The row written sends the user's profile-cache purge, committed
-- with it (profiles/cache.py).
WITH written AS (
  UPDATE user_profiles
     SET is_deleted = true, display_name = NULL, avatar_url = NULL, email = NULL, full_name = NULL,
         dob = NULL, sex = NULL, phone_number = NULL, address = NULL, school = NULL, major = NULL, bio = NULL,
         profession = NULL, company = NULL, skills = NULL, work_style = NULL, years_experience = NULL,
         linkedin_url = NULL, portfolio_url = NULL, updated_at = now()
   WHERE user_id = %(user_id)s
  RETURNING user_id
)
SELECT written.user_id FROM written
  LEFT JOIN LATERAL (SELECT pg_notify(%(purge_channel)s, %(purge_payload)s)
                      WHERE %(purge_channel)s::text IS NOT NULL) AS purge ON true
