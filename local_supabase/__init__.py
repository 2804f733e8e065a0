"""The local Supabase stack, as the Supabase CLI gives it: Postgres and Auth (GoTrue), for `make run` and tests.

Not part of the product: `coner_api` never imports it and does not ship it; it runs from the checkout."""
