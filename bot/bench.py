"""Speed figures, printed: index build, embeddings/s, search latency, REST reply latency.

Run by ``make bench``. Nothing here asserts a target: the numbers are for reading.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from bot.paths import BUILD_DIR

CLAIMS = [
    "Lenin was a dictator from day one",
    "the Bolshevik party was just Lenin's personal tool",
    "October was a coup by a tiny minority",
    "Lenin's regime led straight to Stalin's gulags",
    "the Kronstadt massacre proves it",
    "every communist country ended up a police state",
    "socialism goes against human nature",
    "even if the civil war mattered, Leninist ideology played a part",
    "a Leninist party in power today would create a new Stalin",
    "Stalin industrialised Russia, so it was worth it",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(label: str, value: str) -> None:
    print(f"  {label:44} {value}", flush=True)


def bench_index() -> None:
    import tempfile

    from bot.embeddings import Encoder
    from bot.essay import load_essay
    from bot.index import PassageIndex
    from bot.knowledge import load_knowledge
    from bot.retrieval import Retriever

    print("Passage index")
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
        for text in CLAIMS:
            query = f"{text} ({round_})"  # a new text each time: no cached embedding
            started = time.perf_counter()
            retriever.search(query, k=3)
            timings.append((time.perf_counter() - started) * 1000)
    line(
        "search latency incl. query embedding",
        f"p50 {percentile(timings, 50):.1f} ms, p95 {percentile(timings, 95):.1f} ms ({len(timings)} queries)",
    )


def _post(url: str, sender: str, message: str) -> tuple[float, int]:
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        replies = json.loads(response.read())
    return (time.perf_counter() - started) * 1000, len(replies)


def load(url: str, users: int, turns: int) -> tuple[list[float], float]:
    timings: list[float] = []
    lock = threading.Lock()

    def student(n: int) -> None:
        sender = f"bench-{uuid.uuid4().hex[:6]}-{n}"
        for turn in range(turns):
            elapsed, _ = _post(url, sender, CLAIMS[(n + turn) % len(CLAIMS)])
            with lock:
                timings.append(elapsed)

    started = time.perf_counter()
    threads = [threading.Thread(target=student, args=(n,)) for n in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings, time.perf_counter() - started


def bench_rest(turns: int = 20) -> None:
    from bot.serve import Assistant, free_port

    print("REST replies (real action server and Rasa server)")
    assistant = Assistant(port=free_port(), action_port=free_port(), tracker_db=BUILD_DIR / "bench" / "tracker.db",
                          log_dir=BUILD_DIR / "bench" / "logs")
    if assistant.tracker_db.exists():
        assistant.tracker_db.unlink()
    started = time.perf_counter()
    assistant.start()
    line("start to ready (model already trained)", f"{time.perf_counter() - started:.1f} s")
    url = f"{assistant.url}/webhooks/rest/webhook"
    try:
        load(url, 1, 3)  # warm up
        for users in (1, 8):
            timings, seconds = load(url, users, turns)
            line(
                f"claims, {users} user(s) x {turns} turns",
                f"p50 {percentile(timings, 50):.0f} ms, p95 {percentile(timings, 95):.0f} ms, "
                f"{len(timings) / seconds:.1f} replies/s",
            )
    finally:
        assistant.stop()


def main(rest: bool = True) -> int:
    bench_index()
    if rest:
        bench_rest()
    return 0
