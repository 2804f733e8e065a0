"""One error format everywhere, and a request id on every response."""
from __future__ import annotations

import pytest

from tests.support.servers import app_settings


def test_unknown_route_is_json_404(client):
    response = client.get("/no/such/route")
    assert response.status_code == 404
    assert response.get_json() == {"error": "Not found", "code": "NOT_FOUND"}
    assert response.headers["Content-Type"].startswith("application/json")


def test_wrong_method_is_json_405_with_allow(client):
    response = client.delete("/auth/health")
    assert response.status_code == 405
    assert response.get_json()["code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in response.headers["Allow"]


def test_every_response_has_a_request_id_and_nosniff(client):
    for path in ("/auth/health", "/no/such/route"):
        response = client.get(path)
        assert len(response.headers["X-Request-ID"]) >= 16
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_sane_client_request_id_is_echoed(client):
    response = client.get("/auth/health", headers={"X-Request-ID": "abc-123.DEF:9"})
    assert response.headers["X-Request-ID"] == "abc-123.DEF:9"


@pytest.mark.parametrize("sent", ["a" * 129, "bad id", "x\u00e9", "<script>", ""])
def test_an_unsafe_client_request_id_is_replaced(client, sent):
    response = client.get("/auth/health", headers={"X-Request-ID": sent})
    assert response.headers["X-Request-ID"] != sent
    assert len(response.headers["X-Request-ID"]) == 32


def test_unhandled_exception_is_a_generic_500_with_the_request_id(make_app, migrated_database, auth_server):
    app = make_app(app_settings(migrated_database, auth_server))

    @app.route("/_boom")
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    response = app.test_client().get("/_boom", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.get_json() == {"error": "Internal server error", "code": "INTERNAL_ERROR",
                                   "request_id": "req-42"}
    assert "hunter2" not in response.get_data(as_text=True)
