"""The store switch and its start-up check, against this machine's real PostgreSQL and Redis."""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg2
import pytest
import redis
from sqlalchemy.exc import OperationalError

from bot.channels.edges import failure_reply, is_store_failure, response
from bot.server.serve import free_port
from bot.server.stores import (
    POSTGRES_ENDPOINTS,
    SCALE_DEFAULTS,
    ScaleStores,
    StoreUnavailable,
    check,
    endpoints_file,
    uses_scale_stores,
    with_defaults,
)
from bot.settings import ROOT

SCALE = {"TUTOR_ENDPOINTS": "endpoints.postgres.yml"}


def drop_database(name: str) -> None:
    connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


def test_the_default_is_the_sqlite_file_and_needs_nothing_reachable():
    assert endpoints_file({}) == ROOT / "endpoints.yml"
    assert not uses_scale_stores(endpoints_file({}))
    assert "nothing to reach" in check({"TUTOR_DB_PORT": "1"})


def test_the_scale_file_reads_every_setting_it_needs_from_the_environment():
    text = POSTGRES_ENDPOINTS.read_text()
    assert uses_scale_stores(endpoints_file(SCALE))
    for name in SCALE_DEFAULTS:
        assert "${" + name + "}" in text
    assert with_defaults({"TUTOR_DB_NAME": "mine"})["TUTOR_DB_NAME"] == "mine"
    assert with_defaults({})["TUTOR_REDIS_PORT"] == "6379"


def test_reachable_stores_pass_and_a_new_database_is_created():
    name = f"tutor_test_{uuid.uuid4().hex[:8]}"
    try:
        message = check({**SCALE, "TUTOR_DB_NAME": name})
        assert "reachable" in message and name in message
        connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=name)
        connection.close()
    finally:
        drop_database(name)


def test_unreachable_postgres_names_the_setting():
    port = free_port()
    with pytest.raises(StoreUnavailable, match=f"TUTOR_DB_PORT={port}"):
        check({**SCALE, "TUTOR_DB_PORT": str(port)}, timeout=2)


def test_unreachable_redis_names_the_setting():
    port = free_port()
    with pytest.raises(StoreUnavailable, match=f"TUTOR_REDIS_PORT={port}"):
        check({**SCALE, "TUTOR_DB_NAME": "postgres", "TUTOR_REDIS_PORT": str(port)}, timeout=2)


def test_a_setting_that_is_not_a_number_is_named():
    with pytest.raises(StoreUnavailable, match="TUTOR_DB_PORT='fivefour'"):
        ScaleStores.from_env({"TUTOR_DB_PORT": "fivefour"})


def test_a_missing_endpoints_file_is_named():
    with pytest.raises(StoreUnavailable, match=r"nowhere\.yml"):
        check({"TUTOR_ENDPOINTS": "nowhere.yml"})


def test_the_command_exits_1_with_the_setting_named():
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check-stores", "--timeout", "2"],
        cwd=ROOT, capture_output=True, text=True,
        env={**SCALE, "TUTOR_DB_NAME": "postgres", "TUTOR_REDIS_PORT": str(port), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert f"TUTOR_REDIS_PORT={port}" in result.stderr


@pytest.mark.model  # serve checks the model before the stores
def test_serve_refuses_to_start_on_an_unreachable_store(tmp_path):
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", str(free_port()), "--action-port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**SCALE, "TUTOR_DB_PORT": str(port), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert f"TUTOR_DB_PORT={port}" in result.stderr


def test_store_errors_get_their_own_reply_and_other_errors_the_general_one():
    store_errors = [
        OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        redis.exceptions.ConnectionError("Connection refused"),
        psycopg2.OperationalError("could not connect"),
    ]
    for error in store_errors:
        assert is_store_failure(error), error
        assert failure_reply(error) == response("utter_store_unavailable")
    assert not is_store_failure(KeyError("slot"))
    assert failure_reply(KeyError("slot")) == response("utter_unreachable")


def test_a_store_class_that_cannot_be_loaded_is_named(tmp_path):
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: bot.no_such_module.Store\n  db: x.db\n")
    with pytest.raises(StoreUnavailable, match=r"tracker_store type bot\.no_such_module\.Store cannot be loaded"):
        check({"TUTOR_ENDPOINTS": str(endpoints)})
