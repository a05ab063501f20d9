"""Faults with the real processes: a restarted server, broken files at start, and a fuzz of the
REST channel. (The action server going away is in test_e2e_rest.py, the stores in test_scale.py.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.search.index import INDEX_FILE
from bot.server.serve import MODEL, free_port
from bot.settings import INDEX_DIR, ROOT

MORE = ("The essay also answers:", "More from the essay")  # domain.yml utter_more, utter_more_plain

pytestmark = pytest.mark.e2e


def student() -> str:
    return f"faults-{uuid.uuid4().hex[:8]}"


def test_a_restarted_rasa_server_carries_on_where_the_student_was(assistant, client):
    me = student()
    for part in ("quiz me", "He was outvoted over Brest-Litovsk, so he was no dictator.", "done"):
        client.say(me, part)
    client.say(me, "lenin was a dictator from day one")
    before = client.text(me, "tell me more")
    shown = client.slot(me, "shown_passages")
    rasa = assistant.processes.pop("rasa")
    rasa.terminate()
    rasa.wait(60)
    assistant.start_rasa()
    assistant.wait_ready(360)
    assert client.slot(me, "shown_passages") == shown
    after = client.text(me, "tell me more")
    assert after.startswith(MORE) and after != before
    assert "1 point practised" in client.text(me, "how am I doing?")


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "bot", "serve", "--port", str(free_port()), "--action-port", str(free_port())]
    return subprocess.run(
        [*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**(env or {}), "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )


def test_a_missing_model_stops_the_start_naming_the_file(tmp_path):
    missing = tmp_path / "none.tar.gz"
    result = serve("--model", str(missing))
    assert result.returncode == 2
    assert f"no trained model at {missing}: run `make train`" in result.stderr


@pytest.mark.parametrize("content", [b"", b"not a tar archive at all" * 100])
def test_a_corrupt_model_stops_the_start_naming_the_file(tmp_path, content):
    broken = tmp_path / "tutor.tar.gz"
    broken.write_bytes(content)
    result = serve("--model", str(broken))
    assert result.returncode == 2
    assert f"the model {broken} is unreadable" in result.stderr and "make train" in result.stderr


def test_a_corrupt_index_stops_the_start_naming_the_file(tmp_path):
    shutil.copytree(INDEX_DIR, tmp_path / "index")
    (tmp_path / "index" / INDEX_FILE).write_bytes(b"\x00" * 64)
    result = serve("--model", str(MODEL), env={"TUTOR_BUILD_DIR": str(tmp_path)})
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"{INDEX_FILE} is corrupt" in output and "make train" in output
    assert "the actions server exited with code 2" in output


WORDS = st.sampled_from([
    "Lenin", "Stalin", "**bold**", "_it_", "`code`", "<script>alert(1)</script>", "<b>", "&amp;", "[x](http://a)",
    "# heading", "> quote", "| a | b |", "\u202e", "\u200b", "🙂", "ленин", "列宁", "/restart", "/claim_x", "{", "}",
])
MESSAGES = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(WORDS, st.text(min_size=1, max_size=12)), max_size=25).map(" ".join),
    st.integers(min_value=50, max_value=3000).map(lambda n: "a" * n),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=20),
)


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(message=MESSAGES)
def test_fuzzed_messages_always_get_a_reply(client, message):
    status, replies = client.request("POST", "/webhooks/rest/webhook", {"sender": "fuzz", "message": message})
    assert status == 200, (message, replies)
    assert replies and all(r.get("text") or r.get("buttons") or r.get("image") for r in replies), (message, replies)
