"""User profiles: the /users routes, their schemas, the profile service and every `user_profiles` query."""
from __future__ import annotations

from .service import init_app

__all__ = ["init_app"]
