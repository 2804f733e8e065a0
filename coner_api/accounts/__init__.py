"""Accounts: the /auth routes (sign-up to global logout, e-mail and password flows, Google sign-in), their
schemas and the account flows behind them."""
