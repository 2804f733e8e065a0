"""A flask-smorest Blueprint whose JSON bodies are strict about their media type.

webargs treats a body sent with a non-JSON Content-Type as absent, so `{"display_name": "x"}` posted as
text/plain would be parsed as `{}`: a confusing "field required", or worse, a silent no-op or defaults on a
route whose body is optional. Here such a body is a 400 VALIDATION_FAILED instead. An empty body is still
"no body" (optional bodies keep working), and invalid JSON stays webargs' 400 "Invalid JSON body.".
"""
from __future__ import annotations

from typing import Any

import flask
import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

NOT_JSON_MESSAGE = "Request body must be JSON (Content-Type: application/json)"


class JsonBodyParser(FlaskParser):
    """FlaskParser that refuses a non-empty body whose Content-Type is not JSON."""

    # What the error handler answers anyway (it turns webargs' 422 into 400); said here so that the
    # OpenAPI document lists 400, not 422.
    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            if req.get_data(cache=True):
                abort(400, messages={"json": [NOT_JSON_MESSAGE]})
            return core.missing
        return super()._raw_load_json(req)


class Blueprint(flask_smorest.Blueprint):
    """flask_smorest.Blueprint with `JsonBodyParser` for `@blp.arguments(..., location="json")`."""

    ARGUMENTS_PARSER = JsonBodyParser()
