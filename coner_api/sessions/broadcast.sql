-- Cross-process cache purges and heartbeats (sessions/broadcast.py); no table of their own.

-- name: notify
SELECT pg_notify(%(channel)s, %(payload)s)
