-- Google sign-in bound to the browser that started it: /auth/google/start stores the hash of a secret it
-- also puts in that browser's cookie, and /auth/callback exchanges the code only for the matching cookie.
-- The Supabase authorize URL waits here between /auth/google/url and /auth/google/start.
ALTER TABLE oauth_flows ADD COLUMN authorize_url text;
ALTER TABLE oauth_flows ADD COLUMN browser_binding text;
