"""`GET /metrics`: every process's metrics in the Prometheus text format, for a scraper holding
`METRICS_TOKEN` (docs/api.md, "Metrics").

With `METRICS_TOKEN` unset the route does not exist (404, like any unknown path) and nothing is measured per
request. It is left out of the OpenAPI document on purpose: it is the platform's, not a client's, its answer
is not JSON, and whether it exists depends on the deployment. It is never rate-limited (scrapers poll it,
and a wrong token costs one constant-time comparison).
"""
from __future__ import annotations

import hmac

from flask import Blueprint, Flask, Response

from . import metrics
from ..config import Config
from ..context import current_request, extension
from ..errors import Unauthorized
from .sampler import Sampler
from ..rate_limits import GROUP_ATTRIBUTE, UNLIMITED

blp = Blueprint("metrics", __name__)
setattr(blp, GROUP_ATTRIBUTE, UNLIMITED)


def _authorized(sent: str, token: str) -> bool:
    scheme, _, value = sent.strip().partition(" ")
    # Compared in constant time (the length aside), so the answer's timing says nothing about the token.
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


@blp.route("/metrics")
def scrape() -> Response:
    """The metrics of every worker of this server."""
    config: Config = extension("coner.config")
    if not _authorized(current_request().environ.get("HTTP_AUTHORIZATION", ""), config.metrics_token or ""):
        raise Unauthorized("Unauthorized: metrics token missing or wrong")
    extension("coner.metrics_sampler").sample()  # this process's gauges, fresh; the others' are < 5 s old
    return Response(metrics.render(), mimetype=None, content_type=metrics.CONTENT_TYPE,
                    headers={"Cache-Control": "no-store"})


def init_app(app: Flask, config: Config) -> bool:
    """Serve /metrics and sample the pool and caches when METRICS_TOKEN is set; say whether it is."""
    if not config.metrics_token:
        return False
    sampler = Sampler(app.extensions["coner.db"].pool)
    sampler.start()
    app.extensions["coner.metrics_sampler"] = sampler
    app.register_blueprint(blp)
    return True


def close(app: Flask) -> None:
    sampler = app.extensions.get("coner.metrics_sampler")
    if sampler is not None:
        sampler.stop()
