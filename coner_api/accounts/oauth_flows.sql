-- Google sign-in flows in progress (accounts/oauth.py): each lives 10 minutes and is used once.

-- name: create_oauth_flow
-- The verifier and the provider URL wait here for the browser to open /auth/google/start.
WITH expired AS (DELETE FROM oauth_flows WHERE created_at < now() - interval '10 minutes')
INSERT INTO oauth_flows (flow_id, code_verifier, final_redirect, authorize_url)
VALUES (%(flow_id)s, %(code_verifier)s, %(final_redirect)s, %(authorize_url)s)

-- name: bind_oauth_flow
-- The first browser to open the start link owns the flow; a second one finds it taken.
UPDATE oauth_flows
   SET browser_binding = %(binding)s
 WHERE flow_id = %(flow_id)s::uuid AND browser_binding IS NULL AND authorize_url IS NOT NULL
   AND created_at > now() - interval '10 minutes'
RETURNING authorize_url

-- name: owned_oauth_flow
-- The start link opened again by the browser that owns the flow (its cookie's binding): the same way on.
SELECT authorize_url FROM oauth_flows
 WHERE flow_id = %(flow_id)s::uuid AND browser_binding = %(binding)s
   AND created_at > now() - interval '10 minutes'

-- name: take_oauth_flow
-- Single use, and only by the browser that owns it: the row goes as it is read.
DELETE FROM oauth_flows
 WHERE flow_id = %(flow_id)s::uuid AND browser_binding = %(binding)s
   AND created_at > now() - interval '10 minutes'
RETURNING code_verifier, final_redirect
