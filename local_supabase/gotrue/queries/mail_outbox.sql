-- The local mailbox (mail.py, `/_local/mail`): every e-mail GoTrue would have sent.

-- name: deliver_mail
INSERT INTO mail_outbox (recipient, mail_type, otp, token_hash, link)
VALUES (%(recipient)s, %(mail_type)s, %(otp)s, %(token_hash)s, %(link)s)

-- name: list_mail
-- Newest first; a null recipient lists every message.
SELECT * FROM mail_outbox WHERE %(recipient)s::text IS NULL OR recipient = %(recipient)s ORDER BY id DESC

-- name: clear_mail
DELETE FROM mail_outbox
