-- Google sign-in with PKCE: the code verifier is kept here, keyed by a flow id carried in the redirect URL,
-- because the browser that finishes the sign-in is often not the client that asked for the URL.
CREATE TABLE oauth_flows (
  flow_id        uuid PRIMARY KEY,
  code_verifier  text NOT NULL,
  final_redirect text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_flows_created_at_idx ON oauth_flows (created_at);
