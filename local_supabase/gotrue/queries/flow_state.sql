-- auth.flow_state (flow_state.py, /verify, the OAuth routes): PKCE and OAuth flows in progress.

-- name: insert_flow_state
INSERT INTO flow_state (id, auth_code, user_id, code_challenge, code_challenge_method, provider_type,
                        authentication_method, redirect_to)
VALUES (%(id)s, %(auth_code)s, %(user_id)s, %(code_challenge)s, %(code_challenge_method)s, %(provider_type)s,
        %(authentication_method)s, %(redirect_to)s)
RETURNING *

-- name: find_pkce_flow_state
-- A PKCE flow (it has a challenge) whose user is known: its link was followed or the provider answered.
SELECT *
  FROM flow_state
 WHERE auth_code = %(auth_code)s AND user_id IS NOT NULL AND code_challenge IS NOT NULL
   FOR UPDATE

-- name: find_oauth_flow_state
-- An OAuth sign-in the provider has not answered yet.
SELECT *
  FROM flow_state
 WHERE id = %(id)s AND authentication_method = 'oauth' AND user_id IS NULL
   FOR UPDATE

-- name: complete_oauth_flow_state
UPDATE flow_state
   SET user_id = %(user_id)s, provider_access_token = %(provider_access_token)s
 WHERE id = %(id)s

-- name: delete_flow_state
DELETE FROM flow_state WHERE id = %(id)s

-- name: issue_latest_flow_auth_code
-- pkce.go, issueAuthCode: the user's latest flow of this authentication method gets its code issued now.
UPDATE flow_state
   SET auth_code_issued_at = now()
 WHERE id = (SELECT id FROM flow_state
              WHERE user_id = %(user_id)s AND authentication_method = %(authentication_method)s
              ORDER BY created_at DESC LIMIT 1)
RETURNING auth_code, code_challenge

-- name: find_flow_state
-- models.FindFlowStateByID.
SELECT * FROM flow_state WHERE id = %(id)s FOR UPDATE
