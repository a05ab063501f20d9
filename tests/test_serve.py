"""`make run`'s launcher: both servers up, the tracker in SQLite, both stopped by Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from bot.server.serve import free_port
from bot.settings import ROOT

pytestmark = pytest.mark.e2e


def up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except Exception:
        return False


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_serve_starts_both_servers_and_ctrl_c_stops_both(tmp_path):
    """Also: with RASA_AUTH_TOKEN set, the HTTP API answers only requests carrying it."""
    port, action_port = free_port(), free_port()
    command = [sys.executable, "-m", "bot", "serve", "--port", str(port), "--action-port", str(action_port),
               "--tracker-db", str(tmp_path / "tracker.db")]
    log = tmp_path / "serve.log"
    with log.open("w") as output:  # a file, not a pipe: the servers' logs would fill a pipe and block them
        launcher = subprocess.Popen(
            command, cwd=ROOT, env=dict(os.environ, RASA_AUTH_TOKEN="classroom-secret"), stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 300
        while not (up(f"http://127.0.0.1:{port}/") and up(f"http://127.0.0.1:{action_port}/health")
                   and "The debate tutor is ready" in log.read_text()):
            assert launcher.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the assistant did not come up"
            time.sleep(1)
        tracker = f"http://127.0.0.1:{port}/conversations/someone/tracker"
        assert status(tracker) == 401
        assert status(f"{tracker}?token=classroom-secret") == 200
        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    output = log.read_text()
    assert launcher.returncode == 0, output
    assert "The debate tutor is ready" in output and f"http://127.0.0.1:{port}/webhooks/rest/webhook" in output
    # The console shows the tutor's own progress and names the full logs; the servers' chatter is in them.
    assert "Full server logs:" in output and "the action server is up" in output
    assert not re.search(r"Warning|GET /status|INFO ", output), output
    assert not up(f"http://127.0.0.1:{port}/") and not up(f"http://127.0.0.1:{action_port}/health")
    assert (tmp_path / "tracker.db").is_file()


def test_ctrl_c_while_starting_stops_both_and_leaves_nothing_running(tmp_path):
    port, action_port = free_port(), free_port()
    command = [sys.executable, "-m", "bot", "serve", "--port", str(port), "--action-port", str(action_port),
               "--tracker-db", str(tmp_path / "tracker.db")]
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        launcher = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 300
        while not up(f"http://127.0.0.1:{action_port}/health"):
            assert launcher.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the action server did not come up"
            time.sleep(0.5)
        assert "The debate tutor is ready" not in log.read_text()
        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 130, log.read_text()
    assert "Stopping..." in log.read_text()
    time.sleep(1)
    assert not up(f"http://127.0.0.1:{port}/") and not up(f"http://127.0.0.1:{action_port}/health")


def test_serve_refuses_to_start_without_the_trained_matcher(tmp_path):
    """No silent fall-back to the zero-shot matcher: the launcher names the file and the remedy."""
    port, action_port = free_port(), free_port()
    command = [sys.executable, "-m", "bot", "serve", "--port", str(port), "--action-port", str(action_port),
               "--tracker-db", str(tmp_path / "tracker.db")]
    env = dict(os.environ, TUTOR_JUDGE_DIR=str(tmp_path / "no-judge"))
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no-judge/manifest.json" in result.stderr and "make train-matcher" in result.stderr
    assert not up(f"http://127.0.0.1:{action_port}/health")
