-- name: ping
SELECT 1 AS ok

-- name: advisory_xact_lock
-- Held until the transaction ends (Database.exclusive): one key's blocks run one after the other, across
-- every process on the database.
SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))
