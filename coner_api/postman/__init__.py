"""The OpenAPI document as a Postman collection that tests itself (`python -m coner_api.postman`, `make smoke`):
`collection` builds it, `session` orders the requests as one user's session, `assertions` writes each
request's `pm.test` checks from the document."""
from .collection import app_spec, collection, example, load_spec, main

__all__ = ["app_spec", "collection", "example", "load_spec", "main"]
