-- What the API adds to the contract's table: the first-time-setup marker, value checks that mirror the
-- API's validation (a last line of defence, never the first), and the single-session revocation list.

-- Set once, by the one statement that performs the first-time setup; NULL means "not set up yet".
ALTER TABLE user_profiles ADD COLUMN profile_initialized_at timestamptz;

ALTER TABLE user_profiles
  ADD CONSTRAINT user_profiles_sex_check CHECK (sex IN ('male', 'female', 'other')),
  ADD CONSTRAINT user_profiles_phone_digits_check CHECK (phone_number ~ '^[0-9]{8,15}$'),
  ADD CONSTRAINT user_profiles_work_style_check CHECK (work_style IN ('focus', 'collaborative', 'flexible'));

-- Sessions ended by POST /auth/logout. Their access tokens stay cryptographically valid until `exp`, so we
-- keep the session id until then; rows past `expires_at` are dead weight and are purged.
CREATE TABLE revoked_sessions (
  session_id  uuid PRIMARY KEY,
  user_id     uuid NOT NULL,
  revoked_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX revoked_sessions_expires_at_idx ON revoked_sessions (expires_at);
CREATE INDEX revoked_sessions_user_id_idx ON revoked_sessions (user_id);
