"""Named SQL queries, one file per table; loaded by `coner_api.db`."""
