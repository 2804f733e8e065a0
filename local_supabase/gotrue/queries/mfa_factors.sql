-- auth.mfa_factors and auth.mfa_challenges (mfa_factors.py, routes_mfa.py), and the session columns MFA changes.

-- name: factors_of_user
-- GoTrue loads a user's factors with the user (models.User.Factors, has_many), oldest first.
SELECT * FROM mfa_factors WHERE user_id = %(user_id)s ORDER BY created_at, id

-- name: find_owned_factor
-- models.User.FindOwnedFactorByID.
SELECT * FROM mfa_factors WHERE id = %(factor_id)s AND user_id = %(user_id)s

-- name: insert_factor
INSERT INTO mfa_factors (id, user_id, friendly_name, factor_type, status, secret)
VALUES (%(id)s, %(user_id)s, %(friendly_name)s, %(factor_type)s, 'unverified', %(secret)s)
RETURNING *

-- name: verify_factor
-- models.Factor.UpdateStatus(FactorStateVerified).
UPDATE mfa_factors SET status = 'verified', updated_at = now() WHERE id = %(factor_id)s RETURNING *

-- name: delete_factor
DELETE FROM mfa_factors WHERE id = %(factor_id)s

-- name: rename_factor
-- models.Factor.UpdateFriendlyName (pop's UpdateOnly: updated_at too).
UPDATE mfa_factors SET friendly_name = %(friendly_name)s, updated_at = now()
 WHERE id = %(factor_id)s
RETURNING *

-- name: delete_factors_of_user
-- models.DeleteFactorsByUserId (a soft-deleted user's factors go).
DELETE FROM mfa_factors WHERE user_id = %(user_id)s

-- name: delete_expired_factors
-- models.DeleteExpiredFactors: unverified factors never challenged, older than the factor expiry.
DELETE FROM mfa_factors f
 WHERE f.status <> 'verified'
   AND NOT EXISTS (SELECT 1 FROM mfa_challenges c WHERE c.factor_id = f.id)
   AND f.created_at + make_interval(secs => %(seconds)s) < now()

-- name: delete_unverified_factors
-- models.DeleteUnverifiedFactors.
DELETE FROM mfa_factors WHERE user_id = %(user_id)s AND status = 'unverified' AND factor_type = %(factor_type)s

-- name: insert_challenge
-- models.Factor.WriteChallengeToDatabase: the challenge, and the factor's last_challenged_at.
WITH challenged AS (
    UPDATE mfa_factors SET last_challenged_at = now() WHERE id = %(factor_id)s
)
INSERT INTO mfa_challenges (id, factor_id, ip_address) VALUES (%(id)s, %(factor_id)s, %(ip_address)s)
RETURNING *

-- name: find_challenge
-- models.Factor.FindChallengeByID; locked, so that two verifications of one challenge cannot both pass.
SELECT * FROM mfa_challenges WHERE id = %(challenge_id)s AND factor_id = %(factor_id)s FOR UPDATE

-- name: delete_challenge
DELETE FROM mfa_challenges WHERE id = %(challenge_id)s

-- name: verify_challenge
-- models.Challenge.Verify.
UPDATE mfa_challenges SET verified_at = now() WHERE id = %(challenge_id)s

-- name: set_session_aal
-- models.Session.UpdateAALAndAssociatedFactor, with the session's AMR claims (models.AddClaimToSession).
UPDATE sessions SET aal = %(aal)s, amr = %(amr)s, factor_id = %(factor_id)s, updated_at = now()
 WHERE id = %(session_id)s
RETURNING *

-- name: sessions_of_factor
-- models.FindSessionsByFactorID.
SELECT * FROM sessions WHERE factor_id = %(factor_id)s

-- name: delete_sessions_below_aal2
-- models.InvalidateSessionsWithAALLessThan(user, "aal2"): a text comparison, as GoTrue's.
DELETE FROM sessions WHERE user_id = %(user_id)s AND aal < 'aal2'
