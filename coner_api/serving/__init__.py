"""The API inside gunicorn (gunicorn.conf.py loads these): the worker with a listening socket per worker
(`worker`), gunicorn's own error answers in our JSON shape (`error_pages`), gunicorn's log lines as JSON and
the metrics folder of each server start (`telemetry`)."""
