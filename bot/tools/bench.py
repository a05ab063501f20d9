"""Speed figures, printed: index and search, REST load on our servers and on Rasa's starter
bot side by side, memory, start-up and training times.

Run by ``make bench``. Nothing here asserts a target: the numbers are for reading, and the
targets are printed beside them. What each student sends is in ``eval/bench.yml``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.settings import BUILD_DIR, EVAL_DIR, ROOT

SCRIPT = EVAL_DIR / "bench.yml"


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(label: str, value: str) -> None:
    print(f"  {label:46} {value}", flush=True)


def load_script(path: Path = SCRIPT) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def messages_for(turns: list[dict], openers: list[str], student: int) -> list[str]:
    """One student's messages: each claim in that student's own words."""
    opener = openers[student % len(openers)] if openers else ""
    return [opener + t["claim"] if "claim" in t else t["say"] for t in turns]


@dataclass
class Load:
    """What a load run saw: each reply's latency, and the replies that were wrong."""

    timings: list[float] = field(default_factory=list)
    claim_timings: list[float] = field(default_factory=list)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.timings) / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        empty = sum(f.endswith(": empty reply") for f in self.failures)
        errors = len(self.failures) - empty
        failed = (f", {errors} failed" if errors else "") + (f", {empty} without a reply" if empty else "")
        return (
            f"p50 {percentile(self.timings, 50):.0f} ms, p95 {percentile(self.timings, 95):.0f} ms, "
            f"p99 {percentile(self.timings, 99):.0f} ms, {self.rate:.1f} replies/s{failed}"
        )


def _post(url: str, sender: str, message: str) -> tuple[float, list]:
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        replies = json.loads(response.read())
    return (time.perf_counter() - started) * 1000, replies


def claims_in(turns: list[dict], openers: list[str], students: int) -> set[str]:
    """The messages that are claims (the issue's latency target is about those)."""
    return {
        message
        for student in range(students)
        for turn, message in zip(turns, messages_for(turns, openers, student), strict=True)
        if "claim" in turn
    }


def run_load(url: str, scripts: list[list[str]], claims: set[str] = frozenset()) -> Load:
    """Each script is one student sending its messages in turn, all students at once; replies
    to the messages in ``claims`` are also timed on their own."""
    result = Load()
    lock = threading.Lock()

    def student(messages: list[str]) -> None:
        sender = f"bench-{uuid.uuid4().hex[:10]}"
        for message in messages:
            try:
                elapsed, replies = _post(url, sender, message)
            except (OSError, ValueError) as error:
                with lock:
                    result.failures.append(f"{message!r}: {error}")
                continue
            with lock:
                result.timings.append(elapsed)
                if message in claims:
                    result.claim_timings.append(elapsed)
                if not replies or not any(r.get("text") or r.get("buttons") for r in replies):
                    result.failures.append(f"{message!r}: empty reply")

    started = time.perf_counter()
    threads = [threading.Thread(target=student, args=(s,)) for s in scripts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB; 0 if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for row in status.splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 1024
    return 0.0


def bench_index(script: dict) -> None:
    from bot.essay.knowledge import load_knowledge
    from bot.essay.parse import load_essay
    from bot.search.embeddings import Encoder
    from bot.search.index import PassageIndex
    from bot.search.retrieval import Retriever

    print("Passage index (target: search p95 under 20 ms, build under 30 s)")
    started = time.perf_counter()
    encoder = Encoder()
    encoder.encode(["warm up"])
    line("model load", f"{time.perf_counter() - started:.2f} s")
    essay = load_essay()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        index = PassageIndex.build(essay, encoder, Path(folder))
        line("index build (parse + embed + write)", f"{time.perf_counter() - started:.2f} s for {len(index)} passages")
    texts = [p.text for p in index.passages] * 3
    started = time.perf_counter()
    encoder.encode(texts)
    line("embeddings/s (passages, batch 32)", f"{len(texts) / (time.perf_counter() - started):.0f}")
    retriever = Retriever(index, essay, load_knowledge(), encoder)
    timings = []
    for round_ in range(20):
        for text in script["queries"]:
            query = f"{text} ({round_})"  # a new text each time: no cached embedding
            started = time.perf_counter()
            retriever.search(query, k=3)
            timings.append((time.perf_counter() - started) * 1000)
    line(
        "search latency incl. query embedding",
        f"p50 {percentile(timings, 50):.1f} ms, p95 {percentile(timings, 95):.1f} ms ({len(timings)} queries)",
    )


def _float32_practice(practice):
    """The shipped practice scorer's float32 twin (same weights and settings), or None when it
    already computes in float32."""
    from bot.scoring.judge import Judge
    from bot.tutoring.practice import Practice, practice_matcher

    judge = practice.matcher.judge
    if getattr(judge, "precision", "float32") == "float32":
        return None
    exact = Judge(judge.folder, precision="float32")
    return Practice(practice.tutor, practice_matcher(practice.tutor, practice.scoring, exact), evidence_cache=None)


def bench_scoring(script: dict, rounds: int = 30, users: int = 8) -> None:
    """A six-sentence answer judged against six key points, alone and eight at once."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.tutoring.practice import Practice
    from bot.tutoring.tutor import shared_tutor

    practice = Practice(shared_tutor())
    started = time.perf_counter()
    practice.warm()
    print("\nPractice scoring (target: six sentences x six key points, p95 at most 150 ms)")
    line("judge load + warm-up (every point's evidence)", f"{time.perf_counter() - started:.1f} s")
    position = next(p for p in practice.knowledge.claims.values() if len(p.key_points) >= 6)
    sentences = script["answer"]

    def answer(n: int) -> list[str]:
        return [f"{s} ({n})" if i == 0 else s for i, s in enumerate(sentences[:6])]

    exact = _float32_practice(practice)
    if exact is not None:
        exact.assess(position, answer(-1))  # its evidence for the missed points, chosen once
    timings, exact_timings = [], []
    for n in range(rounds):  # interleaved, so both see the same machine
        for which, into in ((practice, timings), (exact, exact_timings)):
            if which is None:
                continue
            began = time.perf_counter()
            which.assess(position, answer(n))
            into.append((time.perf_counter() - began) * 1000)
    from bot.scoring.calibrate import rule_name

    precision = getattr(practice.matcher.judge, "precision", "float32")
    line("reading rule (knowledge/scoring.yml)", rule_name(practice.matcher.shortlist))
    line(f"one answer ({len(sentences[:6])} sentences x {len(position.key_points)} key points, {precision})",
         f"p50 {percentile(timings, 50):.0f} ms, p95 {percentile(timings, 95):.0f} ms ({rounds} answers)")
    if exact_timings:
        line("the same answers in float32 (TUTOR_SCORING_PRECISION=float32)",
             f"p50 {percentile(exact_timings, 50):.0f} ms, p95 {percentile(exact_timings, 95):.0f} ms; "
             f"p50 ratio {percentile(exact_timings, 50) / percentile(timings, 50):.2f}")

    def timed(n: int) -> float:
        began = time.perf_counter()
        practice.assess(position, answer(1000 + n))
        return (time.perf_counter() - began) * 1000

    began = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        together = list(pool.map(timed, range(users)))
    line(f"{users} students pressing done at once",
         f"all scored in {(time.perf_counter() - began) * 1000:.0f} ms; slowest {max(together):.0f} ms")


def _load_both(url: str, turns: list[dict], openers: list[str], users: int) -> dict[int, Load]:
    run_load(url, [messages_for(turns[:3], openers, 0)])  # warm up
    return {
        n: run_load(url, [messages_for(turns, openers, s) for s in range(n)], claims_in(turns, openers, n))
        for n in sorted({1, users})
    }


LONG_ROUNDS = 10


@dataclass
class ServerFigures:
    name: str
    start_seconds: float
    loads: dict[int, Load]
    rss: dict[str, float]
    long: list[float] = field(default_factory=list)
    init_seconds: float | None = None  # the starter bot's `rasa init`, which trains
    long_cpu: dict[str, list[float]] = field(default_factory=dict)

    def growth(self, turns: int = 20, values: list[float] | None = None) -> float | None:
        """Mean latency (or ``values``) of the last ``turns`` of the long conversation over its first ``turns``."""
        values = self.long if values is None else values
        if len(values) < 2 * turns:
            return None
        return (sum(values[-turns:]) / turns) / max(1e-9, sum(values[:turns]) / turns)

    def same_message_growth(self, rounds: int = LONG_ROUNDS) -> float | None:
        """The median, over the script's messages, of each one's latency in the last play over the first.

        ``growth`` also counts what the later plays do that the first does not: "tell me more"
        reaching passages never shown before, which the judge reads the first time. Message by
        message, the median leaves those few out and keeps what a longer history costs.
        """
        size = len(self.long) // rounds if rounds else 0
        if size == 0 or len(self.long) != size * rounds:
            return None
        first, last = self.long[:size], self.long[-size:]
        return statistics.median(b / max(1e-9, a) for a, b in zip(first, last, strict=True))



def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def long_conversation(url: str, turns: list[dict], openers: list[str], pids: dict[str, int],
                      rounds: int = LONG_ROUNDS) -> tuple[list[float], dict[str, list[float]]]:
    """One student playing the script ``rounds`` times in one conversation: each reply's latency,
    and the CPU milliseconds each server process spent on it."""
    sender = f"bench-{uuid.uuid4().hex[:10]}"
    timings: list[float] = []
    cpu: dict[str, list[float]] = {name: [] for name in pids}
    for turn, message in enumerate(messages_for(turns, openers, 0) * rounds, start=1):
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        try:
            elapsed, _ = _post(url, sender, message)
        except (OSError, ValueError) as error:
            line("long conversation stopped", f"turn {turn} ({message!r}) failed: {error}")
            break
        time.sleep(0.02)  # anything a server does after replying is counted with the turn that caused it
        timings.append(elapsed)
        for name, pid in pids.items():
            cpu[name].append((cpu_seconds(pid) - before[name]) * 1000)
    return timings, cpu


def bench_tutor(script: dict, users: int, postgres: bool = False) -> ServerFigures:
    """Our servers as `make run` starts them (SQLite), or on PostgreSQL + Redis."""
    from bot.server.serve import Assistant, free_port
    from bot.server.stores import POSTGRES_ENDPOINTS

    name = "tutor, PostgreSQL + Redis" if postgres else "tutor, SQLite"
    folder = BUILD_DIR / "bench"
    extra: dict[str, str] = {}
    database = f"tutor_bench_{uuid.uuid4().hex[:8]}"
    if postgres:
        extra = {"TUTOR_ENDPOINTS": str(POSTGRES_ENDPOINTS), "TUTOR_DB_NAME": database, "TUTOR_REDIS_DB": "14"}
    assistant = Assistant(
        port=free_port(), action_port=free_port(), tracker_db=folder / "tracker.db", log_dir=folder / "logs",
        extra_env=extra,
    )
    if postgres:
        assistant.endpoints = POSTGRES_ENDPOINTS
    elif assistant.tracker_db.exists():
        assistant.tracker_db.unlink()
    started = time.perf_counter()
    assistant.start()
    start_seconds = time.perf_counter() - started
    try:
        url = f"{assistant.url}/webhooks/rest/webhook"
        loads = _load_both(url, script["tutor"], script["openers"], users)
        long, long_cpu = [], {}
        if not postgres:
            pids = {name: p.pid for name, p in assistant.processes.items()}
            long, long_cpu = long_conversation(url, script["tutor"], script["openers"], pids)
        rss = {name: peak_rss_mb(p.pid) for name, p in assistant.processes.items()}
    finally:
        assistant.stop()
        if postgres:
            _drop_database(database)
    return ServerFigures(name, start_seconds, loads, rss, long, long_cpu=long_cpu)


def _drop_database(name: str) -> None:
    import psycopg2

    from bot.server.stores import ScaleStores

    stores = ScaleStores.from_env(os.environ)
    connection = psycopg2.connect(
        host=stores.db_host, port=stores.db_port, user=stores.db_user, password=stores.db_password or None,
        dbname="postgres",
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (OSError, urllib.error.URLError):
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def bench_starter(script: dict, users: int) -> ServerFigures:
    """Rasa's own starter bot (`rasa init --no-prompt`, same Rasa), loaded the same way."""
    from bot.server.serve import free_port

    folder = Path(tempfile.mkdtemp(prefix="rasa-starter-"))
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    log = open(folder.parent / f"{folder.name}.log", "wb")  # noqa: SIM115 - closed below
    try:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(folder)],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, check=True,
        )
        init_seconds = time.perf_counter() - started
        line("starter bot: rasa init (incl. training)", f"{init_seconds:.0f} s")
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "rasa", "run", "--enable-api", "--interface", "127.0.0.1", "--port", str(port)],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            started = time.perf_counter()
            _wait_for(f"http://127.0.0.1:{port}/status", process)
            start_seconds = time.perf_counter() - started
            loads = _load_both(f"http://127.0.0.1:{port}/webhooks/rest/webhook", script["starter"], [], users)
            rss = {"rasa": peak_rss_mb(process.pid)}
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    finally:
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
    return ServerFigures("Rasa starter bot", start_seconds, loads, rss, init_seconds=init_seconds)


def _block_means(values: list[float], size: int) -> str:
    """The mean of each ``size`` values in turn, in milliseconds: "24 / 31 / ... ms"."""
    blocks = [values[i : i + size] for i in range(0, len(values), size)]
    return " / ".join(f"{sum(b) / len(b):.0f}" for b in blocks) + " ms"


def print_server(figures: ServerFigures, users: int) -> None:
    print(f"{figures.name}")
    line("start to ready (model already trained)", f"{figures.start_seconds:.1f} s")
    for n, result in figures.loads.items():
        line(f"{n} user(s) x {len(result.timings) // max(1, n)} turns", result.summary())
        if result.claim_timings:
            claims = result.claim_timings
            line(
                f"  of which claims ({len(claims)})",
                f"p50 {percentile(claims, 50):.0f} ms, p95 {percentile(claims, 95):.0f} ms, p99 {percentile(claims, 99):.0f} ms",
            )
        for failure in result.failures[:3]:
            line("", f"failed: {failure}")
    if figures.long:
        size = len(figures.long) // LONG_ROUNDS
        line(f"1 user x {len(figures.long)} turns, one conversation",
             f"mean per {size} turns: {_block_means(figures.long, size)}")
        for process, values in figures.long_cpu.items():
            line(f"  CPU of the {process} server per turn", f"mean per block: {_block_means(values, size)}")
    line("peak resident memory", ", ".join(f"{k} {v:.0f} MB" for k, v in figures.rss.items()))


def bench_make_run() -> None:
    """Seconds from `make run` (model trained) until a student's claim gets its answer."""
    from bot.server.serve import free_port

    port, action_port = free_port(), free_port()
    first_query = load_script()["queries"][0]
    folder = Path(tempfile.mkdtemp(prefix="tutor-run-"))
    args = f"--port {port} --action-port {action_port} --tracker-db {folder / 'tracker.db'}"
    started = time.perf_counter()
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"SERVE_ARGS={args}"], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    answered = None
    try:
        while process.poll() is None and time.perf_counter() - started < 600:
            try:
                _, replies = _post(url, "bench-first", first_query)
                if replies:
                    answered = time.perf_counter() - started
                    break
            except (OSError, ValueError):
                time.sleep(0.25)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
    line("make run to first answer", f"{answered:.1f} s" if answered else "no answer")


def bench_train() -> float:
    """`rasa train` from scratch: Rasa's training cache pointed at an empty folder."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "RASA_CACHE_DIRECTORY": str(Path(folder) / "cache")}
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "rasa", "train", "--out", str(Path(folder) / "models")],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - started
    line("rasa train from scratch", f"{elapsed:.0f} s" + ("" if result.returncode == 0 else " (failed)"))
    return elapsed


def main(rest: bool = True, users: int = 8, starter: bool = True, postgres: bool = True, train: bool = True) -> int:
    script = load_script()
    bench_index(script)
    bench_scoring(script)
    if not rest:
        return 0
    print(f"\nREST load: {users} students at once, {len(script['tutor'])} turns each "
          "(claims, follow-ups, a practice round)")
    ours = bench_tutor(script, users)
    print_server(ours, users)
    rows = [ours]
    if postgres:
        rows.append(bench_tutor(script, users, postgres=True))
        print_server(rows[-1], users)
    if starter:
        theirs = bench_starter(script, users)
        print_server(theirs, users)
        ratio = percentile(ours.loads[users].timings, 95) / max(1e-9, percentile(theirs.loads[users].timings, 95))
        print("\nSide by side (targets: ratio at most 1.5, at least 20 replies/s, action server under 1 GB)")
        line(f"p95 with {users} users: ours / starter bot", f"{ratio:.2f}")
        line("start to ready: ours / starter bot (target at most 1.1)", f"{ours.start_seconds / theirs.start_seconds:.2f}")
    for row in rows:
        line(f"{row.name}: replies/s with {users} users", f"{row.loads[users].rate:.1f}")
        line(f"{row.name}: action server peak", f"{row.rss.get('actions', 0):.0f} MB")
    growth = ours.growth()
    if growth is not None:
        line("last 20 turns / first 20 turns of one conversation (target at most 1.2)", f"{growth:.2f}")
        same = ours.same_message_growth()
        if same is not None:
            line("each message, last play / first play: median", f"{same:.2f}")
        for process, values in ours.long_cpu.items():
            line(f"  CPU of the {process} server per turn, last 20 / first 20", f"{ours.growth(values=values):.2f}")
    print("\nStart-up and training")
    bench_make_run()
    if train:
        trained = bench_train()
        if starter and theirs.init_seconds:
            line("rasa train / the starter bot's rasa init (target at most 2.5)", f"{trained / theirs.init_seconds:.2f}")
    return 0
