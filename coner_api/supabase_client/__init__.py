"""The only package that talks to Supabase Auth, through the official client (`supabase_auth`, the auth half
of the `supabase` package): `client` (end-user calls, and the shared HTTP pool every call goes through),
`admin` (the admin API, with the service-role key), `mfa` (factors and challenges), `account` (a user's calls
about their own account), `results` (the plain values they give back), `refusals` (Supabase's error codes as
our errors). Features get plain values and our own exceptions, never a Supabase payload."""
from .client import SupabaseAuth, get_supabase_auth, init_app
from .results import AuthUser, TokenSet

__all__ = ["SupabaseAuth", "AuthUser", "TokenSet", "init_app", "get_supabase_auth"]
