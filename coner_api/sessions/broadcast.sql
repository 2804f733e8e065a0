-- Cross-process cache purges (coner_api/broadcast.py); no table of their own.

-- name: count_cache_listeners
SELECT count(*) AS listeners FROM pg_stat_activity
WHERE datname = current_database() AND application_name = %(application_name)s

-- name: notify
SELECT pg_notify(%(channel)s, %(payload)s)
