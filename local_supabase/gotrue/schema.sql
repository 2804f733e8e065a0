-- Tables of the auth stand-in, created idempotently in its own schema (search_path is set per connection).
CREATE TABLE IF NOT EXISTS users (
    id                   uuid PRIMARY KEY,
    aud                  text NOT NULL DEFAULT 'authenticated',
    role                 text NOT NULL DEFAULT 'authenticated',
    email                text,
    encrypted_password   text,
    email_confirmed_at   timestamptz,
    invited_at           timestamptz,
    phone                text,
    phone_confirmed_at   timestamptz,
    confirmation_sent_at timestamptz,
    recovery_sent_at     timestamptz,
    new_email            text,
    email_change_sent_at timestamptz,
    last_sign_in_at      timestamptz,
    app_metadata         jsonb NOT NULL DEFAULT '{}',
    user_metadata        jsonb NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    banned_until         timestamptz,
    deleted_at           timestamptz,
    is_anonymous         boolean NOT NULL DEFAULT false
);
-- The token hashes GoTrue keeps on the user (models.User): OTPs are checked against these columns, links
-- (token hashes) against one_time_tokens; both are cleared together except where GoTrue clears only one
-- (User.Confirm).
ALTER TABLE users ADD COLUMN IF NOT EXISTS confirmation_token text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN IF NOT EXISTS recovery_token text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_change_token_current text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_change_token_new text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_change_confirm_status smallint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN IF NOT EXISTS reauthentication_token text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN IF NOT EXISTS reauthentication_sent_at timestamptz;
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (email) WHERE email IS NOT NULL AND email <> '';
CREATE UNIQUE INDEX IF NOT EXISTS users_phone_key ON users (phone) WHERE phone IS NOT NULL AND phone <> '';

CREATE TABLE IF NOT EXISTS identities (
    id              uuid PRIMARY KEY,
    provider_id     text NOT NULL,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    identity_data   jsonb NOT NULL DEFAULT '{}',
    provider        text NOT NULL,
    last_sign_in_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider_id, provider)
);

CREATE TABLE IF NOT EXISTS sessions (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    aal        text NOT NULL DEFAULT 'aal1',
    amr        jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS refresh_tokens (
    id         bigserial PRIMARY KEY,
    token      text NOT NULL UNIQUE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    parent     text,
    revoked    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS refresh_tokens_session_idx ON refresh_tokens (session_id, revoked, id);

-- token_type: confirmation_token | recovery_token | email_change_token_current | email_change_token_new |
-- reauthentication_token;
-- token_hash carries GoTrue's `pkce_` prefix for PKCE flows. flow_id is no longer used (kept for old data).
CREATE TABLE IF NOT EXISTS one_time_tokens (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_type text NOT NULL,
    token_hash text NOT NULL,
    relates_to text NOT NULL,
    flow_id    uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, token_type)
);
CREATE INDEX IF NOT EXISTS one_time_tokens_hash_idx ON one_time_tokens (token_hash);

-- PKCE and OAuth state: id is the OAuth `state`, auth_code the `?code=` handed to the client.
CREATE TABLE IF NOT EXISTS flow_state (
    id                    uuid PRIMARY KEY,
    auth_code             uuid NOT NULL UNIQUE,
    user_id               uuid REFERENCES users (id) ON DELETE CASCADE,
    code_challenge        text,
    code_challenge_method text,
    provider_type         text NOT NULL,
    authentication_method text NOT NULL,
    redirect_to           text,
    provider_access_token text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    auth_code_issued_at   timestamptz
);

CREATE TABLE IF NOT EXISTS mail_outbox (
    id         bigserial PRIMARY KEY,
    recipient  text NOT NULL,
    mail_type  text NOT NULL,
    otp        text NOT NULL,
    token_hash text NOT NULL,
    link       text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS mail_outbox_recipient_idx ON mail_outbox (recipient, id);

-- MFA (GoTrue models/factor.go, challenge.go, amr.go). A session's AMR claims stay in sessions.amr (a JSON list,
-- newest first); factor_id is the factor its aal2 came from (models.Session.FactorID).
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS factor_id uuid;
CREATE TABLE IF NOT EXISTS mfa_factors (
    id                 uuid PRIMARY KEY,
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    friendly_name      text NOT NULL DEFAULT '',
    factor_type        text NOT NULL,
    status             text NOT NULL,
    secret             text NOT NULL DEFAULT '',
    last_challenged_at timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS mfa_factors_user_idx ON mfa_factors (user_id, created_at);

CREATE TABLE IF NOT EXISTS mfa_challenges (
    id          uuid PRIMARY KEY,
    factor_id   uuid NOT NULL REFERENCES mfa_factors (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    verified_at timestamptz,
    ip_address  text NOT NULL
);
