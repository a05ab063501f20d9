"""`make run`'s launcher: both servers up, the tracker in SQLite, both stopped by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from bot.paths import ROOT
from bot.serve import free_port

pytestmark = pytest.mark.e2e


def up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except Exception:
        return False


def test_serve_starts_both_servers_and_ctrl_c_stops_both(tmp_path):
    port, action_port = free_port(), free_port()
    command = [sys.executable, "-m", "bot", "serve", "--port", str(port), "--action-port", str(action_port),
               "--tracker-db", str(tmp_path / "tracker.db")]
    launcher = subprocess.Popen(
        command, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (up(f"http://127.0.0.1:{port}/") and up(f"http://127.0.0.1:{action_port}/health")):
            assert launcher.poll() is None, launcher.stdout.read()
            assert time.monotonic() < deadline, "the assistant did not come up"
            time.sleep(1)
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, output
    assert "The debate tutor is ready" in output and f"http://127.0.0.1:{port}/webhooks/rest/webhook" in output
    assert not up(f"http://127.0.0.1:{port}/") and not up(f"http://127.0.0.1:{action_port}/health")
    assert (tmp_path / "tracker.db").is_file()
