-- auth.identities (models.py, the OAuth callback, the admin routes).

-- name: identities_of_user
SELECT * FROM identities WHERE user_id = %(user_id)s ORDER BY created_at

-- name: find_identity
SELECT * FROM identities WHERE provider = %(provider)s AND provider_id = %(provider_id)s

-- name: insert_identity
INSERT INTO identities (id, provider_id, user_id, identity_data, provider, last_sign_in_at)
VALUES (%(id)s, %(provider_id)s, %(user_id)s, %(identity_data)s, %(provider)s, now())
RETURNING *

-- name: merge_identity_data
-- models.Identity.UpdateIdentityData on the user's e-mail or phone identity: a raw UPDATE of identity_data
-- alone (pop cannot update a table with a composite key), so updated_at stays.
UPDATE identities
   SET identity_data = identity_data || %(patch)s
 WHERE user_id = %(user_id)s AND provider = %(provider)s

-- name: identities_with_email
-- models.DetermineAccountLinking: identities whose (generated, lower-cased) e-mail is this address.
SELECT * FROM identities WHERE lower(identity_data->>'email') = %(email)s

-- name: replace_identity_data
-- createAccountFromExternalIdentity (account exists): the provider's new data. It writes last_sign_in_at too,
-- but the value it loaded: an identity's sign-in time stays the one of its creation (models.NewIdentity).
UPDATE identities SET identity_data = %(identity_data)s, updated_at = now()
 WHERE id = %(id)s

-- name: delete_other_identities
-- models.User.RemoveUnconfirmedIdentities: every identity but the one being signed in with.
DELETE FROM identities WHERE user_id = %(user_id)s AND id <> %(identity_id)s

-- name: delete_identities_of_user
DELETE FROM identities WHERE user_id = %(user_id)s

-- name: verify_identities_with_email
-- verify.go, signupVerify: email_verified on every identity that carries the user's address.
UPDATE identities
   SET identity_data = identity_data || '{"email_verified": true}'::jsonb
 WHERE user_id = %(user_id)s AND %(email)s <> '' AND lower(identity_data->>'email') = %(email)s

-- name: soft_delete_identity
-- models.User.SoftDeleteUserIdentities: identity_data emptied, provider_id obfuscated.
UPDATE identities SET identity_data = '{}'::jsonb, provider_id = %(provider_id)s WHERE id = %(id)s
