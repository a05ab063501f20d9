"""The load generator and figures of `make bench`, against a small local server."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.tools.bench import (
    claims_in,
    cpu_seconds,
    load_script,
    long_conversation,
    messages_for,
    peak_rss_mb,
    percentile,
    run_load,
)


def test_percentile_is_the_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 or percentile(values, 50) == 51
    assert percentile(values, 95) == 95 or percentile(values, 95) == 96
    assert percentile(values, 100) == 100
    assert percentile([], 95) == 0.0


def test_each_student_words_the_claims_their_own_way():
    script = load_script()
    assert len(script["tutor"]) == 20 and len(script["starter"]) == 20
    first, second = (messages_for(script["tutor"], script["openers"], n) for n in (1, 2))
    assert first != second
    assert len({m for m in first}) > 10
    plain = [t["say"] for t in script["tutor"] if "say" in t]
    assert all(m in first for m in plain)


class Echo(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        replies = [] if body["message"] == "silence" else [{"text": body["message"].upper()}]
        payload = json.dumps(replies).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture()
def echo_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_the_claims_are_the_claim_turns_in_each_students_words():
    script = load_script()
    claims = claims_in(script["tutor"], script["openers"], 2)
    assert len(claims) == 2 * sum("claim" in t for t in script["tutor"])
    assert "Lenin was a dictator from day one" in claims and "tell me more" not in claims


def test_the_load_times_every_reply_and_counts_empty_ones(echo_url):
    result = run_load(echo_url, [["a", "b", "silence"], ["c", "d", "e"]], claims={"b", "e"})
    assert len(result.timings) == 6 and len(result.claim_timings) == 2
    assert result.rate > 0
    assert result.failures == ["'silence': empty reply"]
    assert "p95" in result.summary() and "1 without a reply" in result.summary()


def test_a_long_conversation_is_one_student_playing_the_script_again_and_again(echo_url):
    script = load_script()
    timings, cpu = long_conversation(echo_url, script["tutor"], script["openers"], {"this": os.getpid()}, rounds=3)
    assert len(timings) == 3 * len(script["tutor"])
    assert len(cpu["this"]) == len(timings) and all(ms >= 0 for ms in cpu["this"])
    assert sum(cpu["this"]) > 0  # the echo server answered in this process


def test_a_long_conversation_whose_server_goes_away_stops_with_a_line_not_a_crash(capsys):
    timings, cpu = long_conversation("http://127.0.0.1:9/", [{"say": "hello"}], [""], {"this": os.getpid()}, rounds=3)
    assert timings == [] and cpu == {"this": []}
    assert "turn 1 ('hello') failed" in capsys.readouterr().out


def test_cpu_time_is_read_from_proc_for_every_thread_of_a_process():
    before = cpu_seconds(os.getpid())
    done = threading.Event()

    def spin() -> None:
        deadline = time.process_time() + 0.3
        while time.process_time() < deadline:
            pass
        done.set()

    threading.Thread(target=spin).start()
    done.wait(10)
    assert cpu_seconds(os.getpid()) - before >= 0.25


def test_a_server_that_is_not_there_is_a_failure_not_a_crash():
    result = run_load("http://127.0.0.1:9/", [["hello"]])
    assert result.timings == [] and len(result.failures) == 1
    assert "1 failed" in result.summary()


def test_peak_memory_is_read_from_proc():
    assert peak_rss_mb(os.getpid()) > 10
    assert peak_rss_mb(2**22 + 12345) == 0.0


def test_growth_is_the_last_turns_mean_over_the_first_turns_mean():
    from bot.tools.bench import ServerFigures

    figures = ServerFigures("x", 1.0, {}, {}, long=[10.0] * 20 + [99.0] * 10 + [15.0] * 20)
    assert figures.growth() == pytest.approx(1.5)
    assert ServerFigures("x", 1.0, {}, {}, long=[1.0] * 39).growth() is None
    assert figures.growth(values=[2.0] * 20 + [3.0] * 20) == pytest.approx(1.5)  # e.g. one server's CPU per turn


def test_same_message_growth_is_the_median_of_each_messages_last_over_first_play():
    from bot.tools.bench import ServerFigures

    first, middle, last = [10.0, 20.0, 40.0], [1.0, 1.0, 1.0], [15.0, 20.0, 400.0]  # the third judged anew
    figures = ServerFigures("x", 1.0, {}, {}, long=first + middle + last)
    assert figures.same_message_growth(rounds=3) == pytest.approx(1.5)
    assert figures.growth(turns=3) == pytest.approx(435 / 70)
    assert ServerFigures("x", 1.0, {}, {}, long=[1.0] * 7).same_message_growth(rounds=3) is None
