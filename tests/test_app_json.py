"""Heroku's conventions: app.json (what the "Deploy to Heroku" button reads) describes the add-ons, the build
and every configuration variable of .env.example (and nothing else), its defaults make a valid production
configuration, the Procfile holds the web and release steps, and .python-version names a Python the package
supports."""
from __future__ import annotations

import json
import re

import pytest
from setuptools.config.setupcfg import read_configuration

from coner_api.config import Config
from tests.support.servers import REPO

# app.json's top-level keys (Heroku's app.json schema).
KEYS = {"name", "description", "keywords", "website", "repository", "logo", "success_url", "scripts", "env",
        "formation", "image", "addons", "buildpacks", "environments", "stack"}
# Variables of .env.example that the platform sets, so app.json must not ask for them.
SET_BY_HEROKU = {
    "PORT": "the router's port, set for every web dyno",
    "DATABASE_URL": "set by the heroku-postgresql add-on",
    "REDIS_URL": "set by the heroku-redis add-on, when added",
}


@pytest.fixture(scope="module")
def app_json() -> dict:
    return json.loads((REPO / "app.json").read_text())


def example_variables() -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.M))


def test_app_json_has_heroku_shape(app_json):
    assert set(app_json) <= KEYS, set(app_json) - KEYS
    assert app_json["name"] and app_json["description"]
    assert app_json["buildpacks"] == [{"url": "heroku/python"}]
    assert app_json["formation"]["web"]["quantity"] >= 1
    plans = [addon["plan"] if isinstance(addon, dict) else addon for addon in app_json["addons"]]
    assert any(plan.split(":")[0] == "heroku-postgresql" for plan in plans)
    for name, variable in app_json["env"].items():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name)
        assert set(variable) <= {"description", "value", "required", "generator"}, name
        assert isinstance(variable.get("description"), str) and len(variable["description"]) > 20, name
        assert isinstance(variable.get("required"), bool), f"{name}: say whether it is required"
        assert isinstance(variable.get("value", ""), str) and variable.get("generator", "secret") == "secret", name


def test_every_variable_of_env_example_is_described_and_no_other(app_json):
    described, examples = set(app_json["env"]), example_variables()
    assert not described & set(SET_BY_HEROKU), "the platform sets these; app.json must not ask for them"
    assert examples - set(SET_BY_HEROKU) == described, {
        "in .env.example only": sorted(examples - set(SET_BY_HEROKU) - described),
        "in app.json only": sorted(described - examples)}
    assert set(SET_BY_HEROKU) <= examples


def test_the_defaults_make_a_valid_production_configuration(app_json):
    env = app_json["env"]
    required = {name for name, variable in env.items() if variable["required"]}
    assert {"APP_ENV", "SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY", "TRUSTED_PROXIES",
            "OAUTH_REDIRECT_URL"} <= required
    values = {name: variable.get("value", "") for name, variable in env.items()}
    values["METRICS_TOKEN"] = "f" * 64  # what Heroku's "secret" generator makes: 64 hex characters
    values.update(DATABASE_URL="postgres://u:p@db.example:5432/d", SUPABASE_URL="https://ref.supabase.co",
                  SUPABASE_ANON_KEY="anon", SUPABASE_SERVICE_ROLE_KEY="service",
                  OAUTH_REDIRECT_URL="https://app.example/auth/callback")
    config = Config.from_env(values)  # blank optional values count as unset
    assert config.app_env == "production" and config.trusted_proxies == 1 and config.log_format == "json"
    assert config.metrics_token and config.rate_limit_auth == "5/minute"


def test_procfile_runs_gunicorn_and_the_migrations_on_release():
    lines = dict(line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines() if ":" in line)
    assert lines["web"].strip() == "gunicorn wsgi:app --config gunicorn.conf.py"
    assert lines["release"].strip() == "python -m coner_api.migrations"


def test_python_version_is_one_the_package_supports():
    version = (REPO / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", version), "Heroku's buildpack takes a major.minor version"
    supported = read_configuration(REPO / "setup.cfg")["options"]["python_requires"]  # a SpecifierSet
    assert f"{version}.0" in supported
