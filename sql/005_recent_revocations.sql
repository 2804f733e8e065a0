-- Each API process loads every logout cutoff of the last week when its purge listener connects
-- (sessions/revocation.py, RecentRevocations): only the users who logged out need an index entry.
CREATE INDEX user_profiles_logout_at_idx ON user_profiles (logout_at) WHERE logout_at IS NOT NULL;
