"""Two-factor sign-in (TOTP): the /auth/mfa routes, their schemas, the flows behind them, the per-process factor
status the route guard consults, and the record of codes already accepted (docs/api.md, "Two-factor sign-in").
Every factor lives in Supabase Auth; nothing about a factor is stored here."""
