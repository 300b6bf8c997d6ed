"""config.database_url: the URLs operators are handed (libpq multi-host from an HA manager, postgres://
from hosting platforms) become what SQLAlchemy and psycopg take; and the pool settings for PostgreSQL."""
import pytest
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import make_url

from config import Config, database_hosts, database_url


def connect_args(url: str) -> dict:
    """What psycopg.connect() gets from SQLAlchemy for this URL."""
    args, params = PGDialect_psycopg().create_connect_args(make_url(database_url(url, "")))
    assert args == []
    return params


def test_plain_urls_are_kept():
    assert database_url("postgresql://u:p@db.example.jp:5432/registry", "") == \
        "postgresql+psycopg://u:p@db.example.jp:5432/registry"
    assert database_url("postgres://u@h/db?sslmode=require", "") == "postgresql+psycopg://u@h/db?sslmode=require"
    assert database_url(None, "sqlite:///registry.db") == "sqlite:///registry.db"
    assert database_url("postgresql+psycopg://u@h:5433/db", "") == "postgresql+psycopg://u@h:5433/db"


def test_a_libpq_multi_host_uri_names_every_host_and_port_in_order():
    url = "postgresql://registry:s3cret@10.0.0.1:5432,10.0.0.2:5433/registry?target_session_attrs=read-write"
    assert database_url(url, "") == ("postgresql+psycopg://registry:s3cret@/registry"
                                     "?host=10.0.0.1,10.0.0.2&port=5432,5433&target_session_attrs=read-write")
    assert connect_args(url) == {"user": "registry", "password": "s3cret", "dbname": "registry",
                                 "host": "10.0.0.1,10.0.0.2", "port": "5432,5433",
                                 "target_session_attrs": "read-write"}


def test_a_password_with_special_characters_comes_through_decoded():
    # In a URI the password is percent-encoded (RFC 3986); libpq and SQLAlchemy decode it alike.
    url = "postgresql://registry:p%40ss%3Aw%2Fo%25rd%2C@h1:5432,h2:5432/registry"
    assert connect_args(url)["password"] == "p@ss:w/o%rd,"
    assert connect_args(url)["host"] == "h1,h2"


def test_query_parameters_are_kept_and_ports_may_be_left_out():
    params = connect_args("postgres://u@h1,h2:6432/db?sslmode=verify-full&connect_timeout=2"
                          "&target_session_attrs=prefer-standby&application_name=furusato")
    assert params["host"] == "h1,h2" and params["port"] == ",6432"  # libpq: an empty port is the default
    assert (params["sslmode"], params["connect_timeout"]) == ("verify-full", "2")
    assert params["target_session_attrs"] == "prefer-standby" and params["application_name"] == "furusato"
    assert connect_args("postgresql://u@h1,h2/db")["host"] == "h1,h2"
    assert connect_args("postgresql://u@h1,h2/db").get("port", ",") == ","  # both the default


def test_ipv6_hosts_and_no_user():
    params = connect_args("postgresql://[::1]:5432,[2001:db8::2]:5433/db")
    assert params["host"] == "::1,2001:db8::2" and params["port"] == "5432,5433"
    assert "user" not in params and params["dbname"] == "db"


def test_hosts_in_two_places_or_a_bad_port_are_refused():
    with pytest.raises(ValueError, match="either"):
        database_url("postgresql://u@h1,h2/db?host=h3", "")
    with pytest.raises(ValueError, match="port"):
        database_url("postgresql://u@h1:54x2,h2/db", "")


def test_pool_settings_fail_over_without_pre_ping():
    single = Config.engine_options(database_url("postgresql://u@h:5432/db", ""))
    assert single["pool_pre_ping"] is False  # disconnects are handled optimistically (docs/operations.md)
    assert single["connect_args"]["connect_timeout"] == 3 and single["pool_timeout"] == 5
    assert single["connect_args"]["tcp_user_timeout"] < 10_000 and single["connect_args"]["keepalives"] == 1
    for hosts, timeout in ((2, 3), (3, 3), (4, 2), (6, 2)):
        uri = database_url("postgresql://u@" + ",".join(f"h{n}:5432" for n in range(hosts)) + "/db", "")
        assert database_hosts(uri) == hosts
        # libpq/psycopg wait connect_timeout per host; psycopg never less than 2 s
        assert Config.engine_options(uri)["connect_args"]["connect_timeout"] == timeout
    assert Config.engine_options("sqlite:///x.db") == {"connect_args": {"timeout": 15}, "hide_parameters": True}


def test_the_url_may_set_the_connection_parameters_itself():
    uri = database_url("postgresql://u@h1,h2/db?connect_timeout=5&tcp_user_timeout=0", "")
    options = Config.engine_options(uri)["connect_args"]
    assert "connect_timeout" not in options and "tcp_user_timeout" not in options  # the URL's apply
    assert connect_args("postgresql://u@h1,h2/db?connect_timeout=5&tcp_user_timeout=0")["connect_timeout"] == "5"
    assert options["keepalives_idle"] == 5
