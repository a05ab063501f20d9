"""Shared fixtures: the real model, the real index, and the real servers, each loaded once."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from bot.settings import ROOT, offline

offline()
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module", autouse=True)
def rasa_left_as_the_registry_says(request):
    """After each module, every Rasa patch not registered as installed is Rasa's own code again.

    A test that swaps a patched function and restores it after ``uninstall()`` leaves our code in
    Rasa with the registry empty; the next ``install()`` then refuses it as foreign code, in some
    other module. This names the module that left it.
    """
    yield
    import sys

    patches = sys.modules.get("bot.rasa_patches")
    if patches is None:
        return
    installed = set(patches.installed())
    for patch in patches.all_patches():
        if patch.name in installed:
            continue
        digest = patches.source_hash(patches._resolve(patch).function)
        assert digest == patch.sha256, (
            f"{request.module.__name__} left {patch.target} replaced while the patch "
            f"{patch.name!r} is not registered as installed"
        )


@pytest.fixture()
def postgres_database():
    """A fresh database on this machine's PostgreSQL (its name), dropped afterwards."""
    import uuid

    import psycopg2

    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=5)
    except psycopg2.OperationalError as error:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is needed here: {error}")
    admin.autocommit = True
    name = f"tutor_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture(scope="session")
def training_trackers() -> list:
    """Rasa's training conversations (stories and rules) as its trainer generates them from data/."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActiveLoop
    from rasa.shared.core.generator import TrainingDataGenerator
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "domain.yml"), [str(ROOT / "data")]
    )
    domain = Domain.load(str(ROOT / "domain.yml"))
    trackers = TrainingDataGenerator(importer.get_stories(), domain, augmentation_factor=0).generate()
    assert len(trackers) > 10 and any(t.is_rule_tracker for t in trackers)
    assert any(isinstance(e, ActiveLoop) for t in trackers for e in t.events)  # loops are covered
    return trackers


@pytest.fixture(scope="session")
def encoder():
    from bot.search.embeddings import shared_encoder

    return shared_encoder()


@pytest.fixture(scope="session")
def essay():
    from bot.essay.parse import load_essay

    return load_essay()


@pytest.fixture(scope="session")
def knowledge():
    from bot.essay.knowledge import load_knowledge

    return load_knowledge()


@pytest.fixture(scope="session")
def tutor():
    """The tutor over the index that `make train` built (the same the action server loads)."""
    from bot.tutoring.tutor import shared_tutor

    return shared_tutor()


class Client:
    """Talks to the Rasa server's REST channel and HTTP API as a student's browser would."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self.token = token

    def request(self, method: str, path: str, body=None, headers=None, raw: bytes | None = None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = response.read()
                return response.status, json.loads(payload) if payload else None
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                return error.code, json.loads(payload)
            except ValueError:
                return error.code, payload.decode(errors="replace")

    def say(self, sender: str, message: str) -> list[dict]:
        status, replies = self.request("POST", "/webhooks/rest/webhook", {"sender": sender, "message": message})
        assert status == 200, (status, replies)
        return replies

    def text(self, sender: str, message: str) -> str:
        return "\n".join(r.get("text", "") for r in self.say(sender, message))

    def tracker(self, sender: str) -> dict:
        path = f"/conversations/{sender}/tracker"
        if self.token:
            path += f"?token={self.token}"
        status, tracker = self.request("GET", path)
        assert status == 200, (status, tracker)
        return tracker

    def slot(self, sender: str, name: str):
        return self.tracker(sender)["slots"].get(name)


@pytest.fixture(scope="session")
def fake_slack():
    """Slack's Web API, faked on a local port for the whole session."""
    import threading

    from .fake_slack import FakeSlack

    server = FakeSlack()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def assistant(tmp_path_factory, fake_slack):
    """The real action server and Rasa server on free ports, started once per session, with the
    Slack channel configured against the fake Slack (the SLACK_* variables are read at start)."""
    from bot.server.serve import Assistant, free_port

    from .fake_slack import BOT, SECRET, TOKEN

    workdir = tmp_path_factory.mktemp("assistant")
    server = Assistant(
        port=free_port(),
        action_port=free_port(),
        tracker_db=workdir / "tracker.db",
        log_dir=ARTIFACTS / "logs",
        extra_env={
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_BASE": fake_slack.base,
            "SLACK_BOT_USER_ID": BOT,
        },
    )
    os.environ.pop("RASA_AUTH_TOKEN", None)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def client(assistant) -> Client:
    return Client(assistant.url)
