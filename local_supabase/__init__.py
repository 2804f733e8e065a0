"""The local Supabase stack (Postgres and Auth, as the Supabase CLI runs them) for `make run` and the tests.

Not part of the product: `coner_api` neither imports nor ships it; it runs from the checkout."""
