"""Run the action server and the Rasa server together; stop both cleanly on Ctrl-C.

Used by ``make run`` and by the end-to-end tests (on free ports), so both start the
assistant the same way.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot import settings
from bot.scoring.judge import JudgeUnavailable, check_judge
from bot.server.stores import StoreUnavailable, endpoints_file, uses_scale_stores, with_defaults
from bot.settings import BUILD_DIR, ROOT, SLACK_DEFAULTS

MODEL = BUILD_DIR / "models" / "tutor.tar.gz"


class ModelUnavailable(RuntimeError):
    """The trained model is missing or unreadable; the message names the file and the fix."""


def check_model(path: Path = MODEL) -> None:
    """Refuse a missing or broken model here: Rasa would start without one and answer nothing."""
    if not path.is_file():
        raise ModelUnavailable(f"no trained model at {path}: run `make train`")
    try:
        with tarfile.open(path, "r:gz") as archive:
            names = archive.getnames()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise ModelUnavailable(f"the model {path} is unreadable ({error}): run `make train`, which replaces it") from None
    if "metadata.json" not in {Path(name).name for name in names}:
        raise ModelUnavailable(f"the model {path} is not a Rasa model: run `make train`, which replaces it")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> int:
    """The HTTP status of a GET (401 from a token-protected API still means "up"); 0 if none."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except Exception:
        return 0


@dataclass
class Assistant:
    """The two servers as child processes, with the settings they were started with."""

    host: str = "127.0.0.1"
    port: int = 5005
    action_port: int = 5055
    tracker_db: Path = BUILD_DIR / "tracker.db"
    model: Path = MODEL
    endpoints: Path = field(default_factory=endpoints_file)
    credentials: Path = ROOT / "credentials.yml"
    log_dir: Path | None = None
    progress: Callable[[str], None] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.action_port}"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "TUTOR_ACTION_URL": f"{self.action_url}/webhook",
                "TUTOR_TRACKER_DB": str(self.tracker_db),
                "TUTOR_ENDPOINTS": str(self.endpoints),
                "SANIC_HOST": "127.0.0.1",
                **settings.QUIET,
                **settings.OFFLINE,
            }
        )
        for name, default in SLACK_DEFAULTS.items():
            env.setdefault(name, default)
        env.update(self.extra_env)
        if self.scale_stores:
            env = with_defaults(env)
        return env

    @property
    def scale_stores(self) -> bool:
        """PostgreSQL + Redis (endpoints.postgres.yml) rather than the SQLite file."""
        return uses_scale_stores(self.endpoints)

    def stores(self) -> str:
        """Where conversations are kept, for people to read."""
        if not self.scale_stores:
            return str(self.tracker_db)
        env = self.environment()
        return (
            f"PostgreSQL {env['TUTOR_DB_HOST']}:{env['TUTOR_DB_PORT']}/{env['TUTOR_DB_NAME']} "
            f"(locks in Redis {env['TUTOR_REDIS_HOST']}:{env['TUTOR_REDIS_PORT']})"
        )

    def check_stores(self) -> None:
        """Refuse to start on a store Rasa could not reach (it would fall back to memory)."""
        from bot.server.stores import check

        check(self.environment())

    def migrate(self) -> None:
        """Bring the classroom's tables in the conversations' database to the newest revision."""
        from bot.classroom import db

        self.tracker_db.parent.mkdir(parents=True, exist_ok=True)
        db.engine_for(db.database_url(self.environment())).dispose()

    def _spawn(self, name: str, command: list[str]) -> None:
        output = None
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the child
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.environment(), stdout=output, stderr=subprocess.STDOUT if output else None
        )

    def start_actions(self) -> None:
        self._spawn("actions", [sys.executable, "-m", "actions", "--port", str(self.action_port)])

    def start_rasa(self) -> None:
        token = settings.auth_token()
        command = [
            sys.executable, "-m", "bot.server.rasa_run", "run",
            "--enable-api",
            "--interface", self.host,
            "--port", str(self.port),
            "--model", str(self.model),
            "--endpoints", str(self.endpoints),
            "--credentials", str(self.credentials),
            "--cors", settings.cors(),
        ]
        if token:
            command += ["--auth-token", token]
        self._spawn("rasa", command)

    def start(self, timeout: float = 240.0) -> None:
        check_model(self.model)
        check_judge()
        self.check_stores()
        self.migrate()
        self.tracker_db.parent.mkdir(parents=True, exist_ok=True)
        self.start_actions()
        self.start_rasa()
        self.wait_ready(timeout)

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text)

    def wait_ready(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        said: set[str] = set()
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    self.stop()
                    raise RuntimeError(
                        f"the {name} server exited with code {process.returncode} while starting"
                        + self._log_tail(name)
                    )
            actions_up = _get(f"{self.action_url}/health") == 200
            if actions_up and "actions" not in said:
                said.add("actions")
                self._say("  the action server is up (essay, index, matcher loaded)")
            if actions_up and self.rasa_ready():
                self._say("  the Rasa server is up; warming the models")
                self.warm()
                return
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"the assistant was not ready after {timeout:.0f}s")

    def warm(self) -> None:
        """Parse one message, so the models' first-call set-up (about 2 s) is not a student's wait."""
        token = settings.auth_token()
        query = f"?token={urllib.parse.quote(token)}" if token else ""
        request = urllib.request.Request(
            f"{self.url}/model/parse{query}", data=json.dumps({"text": "hello"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60):
                pass
        except (OSError, urllib.error.URLError):
            pass  # only a warm-up: the first student would pay for it, nothing else

    def _log_tail(self, name: str, lines: int = 5) -> str:
        if not self.log_dir or not (self.log_dir / f"{name}.log").is_file():
            return ""
        tail = (self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:]
        return ":\n" + "\n".join(tail)

    def rasa_ready(self) -> bool:
        return _get(f"{self.url}/status") in (200, 401, 403) and _get(f"{self.url}/") == 200

    def stop(self, timeout: float = 20.0) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


def main(
    host: str = "127.0.0.1",
    port: int = 5005,
    action_port: int = 5055,
    tracker_db: str | None = None,
    model: str | None = None,
) -> int:
    logs = BUILD_DIR / "logs"
    assistant = Assistant(
        host=host, port=port, action_port=action_port, log_dir=logs, progress=lambda text: print(text, flush=True)
    )
    if model:
        assistant.model = Path(model).resolve()
    if tracker_db:
        assistant.tracker_db = Path(tracker_db).resolve()
    stopping = False
    starting = True

    def _stop(*_args) -> None:
        """Ctrl-C or SIGTERM: remembered, so a stop asked for while starting is never lost."""
        nonlocal stopping
        stopping = True
        if starting:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(
        f"Starting the debate tutor (action server on :{action_port}, Rasa on :{port}); this takes about a minute.\n"
        f"  Full server logs: {logs / 'actions.log'} and {logs / 'rasa.log'}",
        flush=True,
    )
    try:
        assistant.start()
    except (StoreUnavailable, ModelUnavailable, JudgeUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (RuntimeError, TimeoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopping...", flush=True)
        assistant.stop()
        return 130
    starting = False
    from bot.channels.webchat import example_claim

    example = json.dumps({"sender": "me", "message": example_claim()}).replace("'", "'\\''")
    print(
        f"\nThe debate tutor is ready.\n"
        f"  Chat over REST:  curl -s -XPOST {assistant.url}/webhooks/rest/webhook "
        f"-H 'Content-Type: application/json' -d '{example}'\n"
        f"  Web chat:        {assistant.url}/webhooks/webchat/\n"
        f"  Socket.IO:       {assistant.url}/socket.io/\n"
        f"  HTTP API:        {assistant.url}/status\n"
        f"  Conversations are kept in {assistant.stores()}\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    try:
        while not stopping:
            for name, process in assistant.processes.items():
                if process.poll() is not None:
                    print(f"the {name} server stopped (exit {process.returncode}); shutting down", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    finally:
        print("Stopping...", flush=True)
        assistant.stop()
    return 0
