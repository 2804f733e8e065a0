"""Liveness and readiness: /health, /ready and the trivial /auth/health."""
