-- name: create_oauth_flow
-- A PKCE sign-in in progress: the verifier waits here for the browser to come back to /auth/callback.
WITH expired AS (DELETE FROM oauth_flows WHERE created_at < now() - interval '10 minutes')
INSERT INTO oauth_flows (flow_id, code_verifier, final_redirect)
VALUES (%(flow_id)s, %(code_verifier)s, %(final_redirect)s)

-- name: take_oauth_flow
-- Single use: the row goes as it is read.
DELETE FROM oauth_flows
WHERE flow_id = %(flow_id)s::uuid AND created_at > now() - interval '10 minutes'
RETURNING code_verifier, final_redirect
