"""The WSGI entry point: `gunicorn wsgi:app` (see Procfile and gunicorn.conf.py)."""
import sys

from coner_api import create_app
from coner_api.config import ConfigError

try:
    app = create_app()
except ConfigError as refused:  # `flask --app wsgi ...` without the app's environment: one line, no traceback
    sys.exit(f"coner-api cannot start: {refused}")
