"""Config: read once from the environment; a missing or malformed variable stops start-up, by name."""
from __future__ import annotations

import os

import pytest

from coner_api import create_app
from coner_api.config import Config, ConfigError

BASE = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x",
    "SUPABASE_URL": "https://abc.supabase.co",
    "SUPABASE_ANON_KEY": "anon",
    "SUPABASE_SERVICE_ROLE_KEY": "service",
    "TRUSTED_PROXIES": "0",
    "OAUTH_REDIRECT_URL": "https://api.example.com/auth/callback",
}


def test_defaults_from_a_minimal_environment():
    config = Config.from_env(BASE)
    assert config.app_env == "production"
    assert config.port == 8080
    assert config.rate_limit_auth == "5/minute"
    assert config.rate_limit_user == "100/minute"
    assert config.redis_url is None
    assert config.supabase_jwt_secret is None
    assert config.trusted_proxies == 0
    assert config.issuer == "https://abc.supabase.co/auth/v1"
    assert config.oauth_redirect_allowlist == (config.oauth_redirect_url,)


@pytest.mark.parametrize("name", ["DATABASE_URL", "SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY"])
def test_missing_required_variable_is_named(name):
    env = {k: v for k, v in BASE.items() if k != name}
    with pytest.raises(ConfigError, match=name):
        Config.from_env(env)


def test_every_missing_variable_is_named_at_once():
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"APP_ENV": "production"})
    for name in BASE:
        assert name in str(raised.value)


def test_trusted_proxies_must_be_set_in_production_and_zero_is_an_answer():
    without = {k: v for k, v in BASE.items() if k != "TRUSTED_PROXIES"}
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES is required in production"):
        Config.from_env(without)
    assert Config.from_env({**without, "TRUSTED_PROXIES": "0"}).trusted_proxies == 0
    assert Config.from_env({**without, "APP_ENV": "development"}).trusted_proxies == 0  # only production insists


def test_blank_counts_as_missing():
    with pytest.raises(ConfigError, match="SUPABASE_ANON_KEY"):
        Config.from_env({**BASE, "SUPABASE_ANON_KEY": "   "})


def test_production_app_refuses_to_start_without_required_variables():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app({"APP_ENV": "production", "SUPABASE_URL": "https://x.supabase.co",
                    "SUPABASE_ANON_KEY": "a", "SUPABASE_SERVICE_ROLE_KEY": "s"})


@pytest.mark.parametrize("overrides, fragment", [
    ({"APP_ENV": "staging"}, "APP_ENV"),
    ({"SUPABASE_URL": "ftp://x"}, "SUPABASE_URL"),
    ({"SUPABASE_URL": "http://abc.supabase.co"}, "https"),
    ({"SUPABASE_URL": "https://abc.supabase.co/auth/v1"}, "without /auth/v1"),
    ({"SUPABASE_URL": "https://abc.supabase.co/AUTH/V1/"}, "without /auth/v1"),
    ({"RATE_LIMIT_CODES": "ten"}, "RATE_LIMIT_CODES"),
    ({"PORT": "eighty"}, "PORT"),
    ({"PORT": "70000"}, "PORT"),
    ({"TRUSTED_PROXIES": "-1"}, "TRUSTED_PROXIES"),
    ({"RATE_LIMIT_AUTH": "lots"}, "RATE_LIMIT_AUTH"),
    ({"RATE_LIMIT_USER": "5 per fortnight"}, "RATE_LIMIT_USER"),
    ({"SUPABASE_JWT_SECRET": "short"}, "SUPABASE_JWT_SECRET"),
    ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "2"}, "DB_POOL_MIN"),
])
def test_malformed_values_are_refused_by_name(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Config.from_env({**BASE, **overrides})


def test_plain_http_only_for_a_loopback_auth_server_whatever_the_environment():
    assert Config.from_env({**BASE, "SUPABASE_URL": "http://127.0.0.1:54321"}).supabase_url == "http://127.0.0.1:54321"
    assert Config.from_env({**BASE, "SUPABASE_URL": "http://localhost:54321"}).supabase_is_local
    for app_env in ("development", "test", "production"):
        with pytest.raises(ConfigError, match="SUPABASE_URL must use https"):
            Config.from_env({**BASE, "APP_ENV": app_env, "SUPABASE_URL": "http://auth.internal"})


@pytest.mark.parametrize("app_env, supabase_url, enabled", [
    ("development", "http://127.0.0.1:54321", True),
    ("development", "https://abc.supabase.co", False),  # a hosted project: no test-user factory in front of it
    ("test", "http://127.0.0.1:54321", False),
    ("production", "http://127.0.0.1:54321", False),
])
def test_dev_routes_only_in_development_against_a_local_supabase(app_env, supabase_url, enabled):
    assert Config.from_env({**BASE, "APP_ENV": app_env, "SUPABASE_URL": supabase_url}).dev_routes_enabled is enabled


def test_values_are_parsed():
    config = Config.from_env({**BASE, "APP_ENV": "test", "PORT": "9000", "TRUSTED_PROXIES": "1",
                              "REDIS_URL": "redis://127.0.0.1:6379/0", "RATE_LIMIT_AUTH": "10/minute;100/hour",
                              "OAUTH_REDIRECT_ALLOWLIST": "https://a.example/cb, https://b.example/cb",
                              "SUPABASE_URL": "https://abc.supabase.co/"})
    assert (config.port, config.trusted_proxies, config.redis_url) == (9000, 1, "redis://127.0.0.1:6379/0")
    assert config.rate_limit_auth == "10/minute;100/hour"
    assert config.oauth_redirect_allowlist == ("https://a.example/cb", "https://b.example/cb")
    assert config.supabase_url == "https://abc.supabase.co"


@pytest.mark.parametrize("overrides, named", [
    ({"TRUSTED_PROXIES": ""}, "TRUSTED_PROXIES"), ({"GUNICORN_THREADS": "four"}, "GUNICORN_THREADS"),
    ({"SUPABASE_URL": "https://ref.supabase.co/auth/v1"}, "/auth/v1"),
    ({"REQUEST_READ_TIMEOUT": "abc"}, "REQUEST_READ_TIMEOUT"),
    ({"REQUEST_READ_TIMEOUT": "nan"}, "REQUEST_READ_TIMEOUT"),
    ({"REQUEST_READ_TIMEOUT": "0"}, "REQUEST_READ_TIMEOUT"),
    ({"OAUTH_REDIRECT_URL": ""}, "OAUTH_REDIRECT_URL"),
    ({"DATABASE_URL": "postgresql+psycopg://coner:S3cretPassw0rd@db.example.com/coner"}, "DATABASE_URL")])
def test_the_server_refuses_a_bad_configuration_in_one_line_before_any_worker_starts(overrides, named):
    """As the Procfile starts it. Each worker used to refuse on its own, its traceback beside the message, and
    the master to add its own when they all died together."""
    import subprocess
    import sys

    from tests.support.servers import REPO

    env = {"PATH": os.environ["PATH"], "APP_ENV": "production", "TRUSTED_PROXIES": "1", "PORT": "1",
           "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x", "SUPABASE_URL": "https://ref.supabase.co",
           "SUPABASE_ANON_KEY": "anon", "SUPABASE_SERVICE_ROLE_KEY": "service",
           "OAUTH_REDIRECT_URL": "https://api.example.com/auth/callback", **overrides}
    done = subprocess.run([sys.executable, "-m", "gunicorn", "wsgi:app", "--config", "gunicorn.conf.py"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    refusals = [line for line in output.splitlines() if line.startswith("coner-api cannot start: ")]
    assert len(refusals) == 1 and named in refusals[0], output
    assert "Traceback" not in output and "Booting worker" not in output, output
    assert "S3cretPassw0rd" not in output


@pytest.mark.parametrize("url", ["postgresql+psycopg://coner:S3cretPassw0rd@db.example.com:5432/coner",
                                 "mysql://coner:S3cretPassw0rd@db.example.com/coner", "S3cretPassw0rd",
                                 "postgresql://coner:S3cretPassw0rd@db.example.com/coner extra"])
@pytest.mark.parametrize("name", ["DATABASE_URL", "DATABASE_LISTEN_URL"])
def test_a_database_url_that_is_not_postgres_is_refused_without_its_password(name, url):
    """psycopg's refusal of such a string quotes it whole ("missing = after ..."), password included, into
    the log on every connection attempt, and the server started anyway."""
    with pytest.raises(ConfigError, match=name) as raised:
        Config.from_env({**BASE, name: url})
    assert "S3cretPassw0rd" not in str(raised.value)


@pytest.mark.parametrize("url", ["postgresql://u:p@h:5432/d", "postgres://h/d", "host=h dbname=d user=u"])
def test_both_of_libpqs_forms_are_database_urls(url):
    assert Config.from_env({**BASE, "DATABASE_URL": url}).database_url == url


def test_the_oauth_redirect_url_is_required_in_production_only():
    """Without it, Google sign-in sent browsers back to this machine's loopback address."""
    without = {k: v for k, v in BASE.items() if k != "OAUTH_REDIRECT_URL"}
    with pytest.raises(ConfigError, match="OAUTH_REDIRECT_URL"):
        Config.from_env(without)
    development = Config.from_env({**without, "APP_ENV": "development", "PORT": "9000"})
    assert development.oauth_redirect_url == "http://127.0.0.1:9000/auth/callback"
