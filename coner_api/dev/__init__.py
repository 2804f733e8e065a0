"""The development routes (/dev/auth): test tokens and test users, registered only in development."""
