"""The WSGI entry point: `gunicorn wsgi:app` (see Procfile and gunicorn.conf.py)."""
from coner_api import create_app

app = create_app()
