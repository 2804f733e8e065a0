-- The statements Store.migrate runs around schema.sql. `{schema}` is an identifier, filled in with
-- psycopg.sql because a statement cannot take it as a parameter.

-- name: lock_schema_setup
-- Several stand-ins may start against one database at the same moment.
SELECT pg_advisory_lock(hashtext('coner_local_auth_server'))

-- name: unlock_schema_setup
SELECT pg_advisory_unlock(hashtext('coner_local_auth_server'))

-- name: create_schema
CREATE SCHEMA IF NOT EXISTS {schema}

-- name: use_schema
SET search_path TO {schema}
