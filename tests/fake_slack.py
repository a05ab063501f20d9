"""A local fake of Slack's Web API (Slack's servers cannot exist here): records every chat.postMessage call."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
BOT = "UBOT"


class FakeSlack(ThreadingHTTPServer):
    """Slack's Web API as far as the channel uses it: records every chat.postMessage call."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FakeSlackHandler)
        self.calls: list[dict] = []
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def posts(self, thread_ts: str) -> list[dict]:
        with self.lock:
            return [c["body"] for c in self.calls if c["body"].get("thread_ts") == thread_ts]

    def wait(self, thread_ts: str, count: int = 1, timeout: float = 60.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            posts = self.posts(thread_ts)
            if len(posts) >= count:
                return posts
            time.sleep(0.2)
        raise AssertionError(f"expected {count} post(s) in thread {thread_ts}, got {self.posts(thread_ts)}")


class _FakeSlackHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with self.server.lock:
            self.server.calls.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            ts = f"{time.time():.6f}"
        reply = json.dumps({"ok": True, "channel": body.get("channel"), "ts": ts}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *_args) -> None:
        pass
