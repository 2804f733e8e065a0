"""Local-only tooling: embedded Postgres, the Supabase Auth stand-in and the `make run` orchestration.

The product (everything else in `coner_api`) never imports this package."""
