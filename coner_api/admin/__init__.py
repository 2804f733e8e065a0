"""Admin user management: the /admin routes, their schemas, the service and the grant-role / revoke-role
commands."""
