"""The Slack channel: signatures, mrkdwn, retries and filtering on their own, then end to end
against the real assistant and a fake Slack Web API that records chat.postMessage calls."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import uuid

import pytest

from bot.channels import mrkdwn
from bot.channels.slack import SeenKeys, SlackChannel, signature, verify_signature
from bot.tutoring import replies

from .conftest import Client
from .fake_slack import BOT, SECRET, TOKEN

MORE = ("The essay also answers:", "More from the essay")  # domain.yml utter_more, utter_more_plain

TEAM = "T0TEST"
CLAIM = "Lenin was a dictator from day one"


def signed(body: bytes, secret: str = SECRET, timestamp: float | None = None, **extra: str) -> dict[str, str]:
    stamp = str(int(time.time() if timestamp is None else timestamp))
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature(secret, stamp, body), **extra}


def new_ts() -> str:
    return f"{time.time():.6f}"


def event(text: str, user: str = "U1", kind: str = "app_mention", ts: str | None = None, **fields) -> dict:
    message = {"type": kind, "user": user, "text": text, "ts": ts or new_ts(), "channel": "C1", **fields}
    return {"type": "event_callback", "team_id": TEAM, "event_id": f"Ev{uuid.uuid4().hex[:10]}", "event": message}


def click(value: str, user: str, thread_ts: str, message_ts: str) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM},
        "team": {"id": TEAM},
        "channel": {"id": "C1"},
        "container": {"type": "message", "channel_id": "C1", "message_ts": message_ts, "thread_ts": thread_ts},
        "message": {"ts": message_ts, "thread_ts": thread_ts},
        "trigger_id": uuid.uuid4().hex,
        "actions": [{"type": "button", "action_id": "rasa_button_0", "value": value, "action_ts": new_ts()}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


# -- signatures --


def test_a_correct_fresh_signature_verifies():
    body = b'{"type":"event_callback"}'
    headers = signed(body)
    stamp, sig = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    assert sig.startswith("v0=") and len(sig) == 67
    assert verify_signature(SECRET, stamp, sig, body)


@pytest.mark.parametrize(
    "signed_with, checked_with, age, forged",
    [
        ("other-secret", SECRET, 0, None),  # forged: signed with another secret
        (SECRET, SECRET, 0, "v0=" + "0" * 64),  # forged: a made-up signature
        (SECRET, SECRET, 301, None),  # replayed: older than five minutes
        (SECRET, SECRET, -301, None),  # from the future
        (SECRET, "", 0, None),  # no secret configured: nothing verifies
    ],
)
def test_forged_stale_and_unconfigured_signatures_fail(signed_with, checked_with, age, forged):
    now = time.time()
    headers = signed(b"{}", secret=signed_with, timestamp=now - age)
    stamp = headers["X-Slack-Request-Timestamp"]
    assert not verify_signature(checked_with, stamp, forged or headers["X-Slack-Signature"], b"{}", now)


def test_a_changed_body_or_missing_headers_fail():
    headers = signed(b'{"a":1}')
    assert not verify_signature(SECRET, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"], b'{"a":2}')
    assert not verify_signature(SECRET, None, headers["X-Slack-Signature"], b'{"a":1}')
    assert not verify_signature(SECRET, "yesterday", headers["X-Slack-Signature"], b'{"a":1}')
    assert not verify_signature(SECRET, headers["X-Slack-Request-Timestamp"], "", b'{"a":1}')
    assert not verify_signature(SECRET, headers["X-Slack-Request-Timestamp"], "v0=ü", b'{"a":1}')


def test_the_channel_refuses_unsigned_forged_and_stale_requests_and_all_when_unconfigured():
    channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET)
    body = json.dumps(event(CLAIM)).encode()
    assert channel.receive_event({}, body).status == 401
    assert channel.receive_event(signed(body, secret="forged"), body).status == 401
    assert channel.receive_event(signed(body, timestamp=time.time() - 600), body).status == 401
    assert channel.receive_event(signed(body), body[:-1] + b" }").status == 401
    assert channel.receive_event(signed(body), body).incoming is not None
    unconfigured = SlackChannel.from_credentials({"bot_token": None, "signing_secret": "", "api_base": ""})
    assert unconfigured.receive_event(signed(body), body).status == 403
    assert unconfigured.receive_interaction(signed(b"payload=%7B%7D"), b"payload=%7B%7D").status == 403
    assert unconfigured.api.base == "https://slack.com/api"


# -- retries and what is answered --


def test_a_retried_event_is_answered_once():
    channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET, bot_user_id=BOT)
    body = json.dumps(event(f"<@{BOT}> {CLAIM}")).encode()
    first = channel.receive_event(signed(body), body)
    retry = channel.receive_event(signed(body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}), body)
    assert first.status == retry.status == 200
    assert first.incoming is not None and retry.incoming is None


def test_a_retry_of_an_event_never_received_is_answered():
    channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET)
    body = json.dumps(event(CLAIM)).encode()
    assert channel.receive_event(signed(body, **{"X-Slack-Retry-Num": "2"}), body).incoming is not None


def test_the_same_message_as_message_and_app_mention_events_is_answered_once():
    channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET, bot_user_id=BOT)
    ts = new_ts()
    mention = json.dumps(event(f"<@{BOT}> {CLAIM}", ts=ts)).encode()
    assert channel.receive_event(signed(mention), mention).incoming is not None
    # the student's next message in that thread, without a mention, is for the bot too
    follow_up = json.dumps(event("tell me more", kind="message", ts=new_ts(), thread_ts=ts, channel_type="channel")).encode()
    assert channel.receive_event(signed(follow_up), follow_up).incoming.thread_ts == ts
    copy = json.dumps(event(f"<@{BOT}> {CLAIM}", kind="message", ts=ts, channel_type="channel")).encode()
    assert channel.receive_event(signed(copy), copy).incoming is None


@pytest.mark.parametrize(
    "fields",
    [
        {"bot_id": "B1"},
        {"subtype": "bot_message"},
        {"subtype": "message_changed"},
        {"user": BOT},
        {"user": ""},
        {"type": "reaction_added"},
        {"type": "message", "channel_type": "channel"},  # channel chatter, not addressed to the bot
    ],
)
def test_bot_edited_and_unaddressed_messages_are_ignored(fields):
    channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET, bot_user_id=BOT)
    payload = event(CLAIM)
    payload["event"].update(fields)
    body = json.dumps(payload).encode()
    verdict = channel.receive_event(signed(body), body)
    assert verdict.status == 200 and verdict.incoming is None


def test_the_bot_is_recognised_from_the_event_when_not_configured():
    channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET)
    payload = event(f"<@UAPP> {CLAIM}", user="UAPP")
    payload["authorizations"] = [{"user_id": "UAPP", "is_bot": True}]
    body = json.dumps(payload).encode()
    assert channel.receive_event(signed(body), body).incoming is None
    payload = event(f"<@UAPP> {CLAIM}", user="U7")
    payload["authorizations"] = [{"user_id": "UAPP", "is_bot": True}]
    body = json.dumps(payload).encode()
    assert channel.receive_event(signed(body), body).incoming.text == CLAIM


def test_a_direct_message_and_a_mention_become_one_student_each():
    channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET, bot_user_id=BOT)
    dm = json.dumps(event(CLAIM, user="U9", kind="message", channel_type="im")).encode()
    incoming = channel.receive_event(signed(dm), dm).incoming
    assert incoming.sender_id == f"slack:{TEAM}:U9" and incoming.thread_ts == incoming.ts
    mention = json.dumps(event(f"<@{BOT}> {CLAIM}", user="U8")).encode()
    assert channel.receive_event(signed(mention), mention).incoming.sender_id == f"slack:{TEAM}:U8"


def test_url_verification_echoes_the_challenge_only_when_signed():
    channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET)
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    assert channel.receive_event(signed(body), body).body == {"challenge": "abc123"}
    assert channel.receive_event({}, body).status == 401


def test_a_button_click_becomes_its_payload_in_the_thread_once():
    channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET)
    body = click("/tell_more", "U5", thread_ts="111.1", message_ts="111.2")
    incoming = channel.receive_interaction(signed(body), body).incoming
    assert (incoming.text, incoming.thread_ts, incoming.sender_id) == ("/tell_more", "111.1", f"slack:{TEAM}:U5")
    assert channel.receive_interaction(signed(body), body).incoming is None
    assert channel.receive_interaction(signed(b"payload=nope"), b"payload=nope").status == 400


def test_seen_keys_forget_after_the_ttl_and_beyond_the_size():
    now = [0.0]
    seen = SeenKeys(ttl=60, size=3, clock=lambda: now[0])
    assert seen.first("a") and not seen.first("a")
    now[0] = 61
    assert seen.first("a")
    for key in "bcd":
        seen.add(key)
    assert len(seen) == 3 and "a" not in seen and "d" in seen


# -- mrkdwn --


def test_markdown_becomes_mrkdwn_with_literal_quote_markers():
    text = "The essay answers (Intro):\n\n" + replies.quote("Tom & Jerry <b> **entire** point\n\n" + replies.quote("inner"))
    text += "\n\nSources:\n- [The essay](https://example.org/a?x=1&y=2)\n- [10] A footnote"
    out = mrkdwn.to_mrkdwn(text)
    assert "> Tom &amp; Jerry &lt;b&gt; *entire* point" in out.splitlines()
    assert "> &gt; inner" in out.splitlines() and ">" in out.splitlines()
    assert "• <https://example.org/a?x=1&amp;y=2|The essay>" in out and "• [10] A footnote" in out
    assert not any(line.startswith("&gt;") for line in out.splitlines())


def test_slack_markup_in_a_students_message_becomes_plain_text():
    raw = f"<@{BOT}> Lenin &amp; the <#C1|general> said &lt;this&gt; <https://x.org|see> <@U2|ann>"
    assert mrkdwn.from_slack(raw, BOT) == "Lenin & the #general said <this> see @ann"


def test_long_answers_are_split_into_sections_under_slacks_limit_and_stay_quoted():
    paragraph = " ".join(["word"] * 900)  # about 4500 characters on one line
    text = "Intro:\n\n" + replies.quote(paragraph + "\n\n" + paragraph) + "\n\nSources:\n- one"
    messages = mrkdwn.messages(text, [{"title": "Tell me more", "payload": "/tell_more"}])
    assert len(messages) == 1
    blocks = messages[0]["blocks"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) >= 4 and all(len(s) <= mrkdwn.SECTION_LIMIT for s in sections)
    quoted = [line for s in sections for line in s.splitlines() if "word" in line]
    assert all(line.startswith("> ") for line in quoted)
    assert " ".join(quoted).count("word") == 1800
    assert blocks[-1] == {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "rasa_button_0",
                "text": {"type": "plain_text", "text": "Tell me more", "emoji": True},
                "value": "/tell_more",
            }
        ],
    }
    assert len(messages[0]["text"]) <= mrkdwn.SECTION_LIMIT


def test_very_long_answers_are_spread_over_messages_of_at_most_fifty_blocks():
    text = "\n".join(["x" * 2990] * 60)
    messages = mrkdwn.messages(text, [{"title": "More", "payload": "/tell_more"}])
    assert [len(m["blocks"]) for m in messages] == [50, 11]
    assert messages[-1]["blocks"][-1]["type"] == "actions"


# -- end to end: the real servers, a fake Slack --


def test_a_failing_store_gets_the_same_send_it_again_answer_as_on_rest_and_socketio(fake_slack):
    """Not "I can't reach my sources": the message was not taken in, and the student should resend it."""
    import asyncio

    from sqlalchemy.exc import OperationalError

    from bot.channels.edges import response

    channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET, bot_user_id=BOT, api_base=fake_slack.base)
    body = json.dumps(event(CLAIM, user="U77", kind="message", channel_type="im")).encode()
    incoming = channel.receive_event(signed(body), body).incoming

    async def store_away(_message) -> None:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    asyncio.run(channel.answer(store_away, incoming))
    (post,) = fake_slack.wait(incoming.thread_ts, count=1)
    assert section_text(post) == response("utter_store_unavailable")


@pytest.fixture(scope="module")
def slack(assistant) -> Client:
    """The session's servers: started with the SLACK_* variables pointing at the fake Slack (conftest)."""
    return Client(assistant.url)


def send_event(slack: Client, payload: dict, **extra: str) -> tuple[int, object]:
    body = json.dumps(payload).encode()
    return slack.request("POST", "/webhooks/slack/events", raw=body, headers=signed(body, **extra))


def section_text(post: dict) -> str:
    return "\n".join(b["text"]["text"] for b in post.get("blocks", []) if b["type"] == "section")


def user() -> str:
    return f"U{uuid.uuid4().hex[:8].upper()}"


@pytest.mark.e2e
def test_slack_url_verification_is_answered(slack):
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    status, reply = slack.request("POST", "/webhooks/slack/events", raw=body.encode(), headers=signed(body.encode()))
    assert status == 200 and reply == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


@pytest.mark.e2e
def test_a_mention_is_rebutted_in_its_thread_with_a_quote_and_sources_and_a_retry_is_not_answered_again(
    slack, fake_slack
):
    payload = event(f"<@{BOT}> {CLAIM}", user=user())
    ts = payload["event"]["ts"]
    started = time.monotonic()
    status, _ = send_event(slack, payload)
    assert status == 200 and time.monotonic() - started < 3.0  # acknowledged inside Slack's limit

    posts = fake_slack.wait(ts, count=2)
    assert all(p["channel"] == "C1" and p["thread_ts"] == ts for p in posts)
    assert section_text(posts[0]).startswith("That's point 1 of the continuity thesis")
    rebuttal = section_text(posts[1])
    assert "\n> " in rebuttal and "\n&gt;" not in rebuttal  # a real quote block, not an escaped marker
    assert "Sources:" in rebuttal and "\n• " in rebuttal
    assert re.search(r"\[\d+\] [A-Z]", rebuttal), "a compact footnote: [n] Author, Title"
    buttons = next(b for b in posts[1]["blocks"] if b["type"] == "actions")["elements"]
    assert [b["value"] for b in buttons] == ["/tell_more", "/read_passage", "/ask_sources"]
    assert posts[1]["text"]  # the notification fallback
    with fake_slack.lock:
        assert {c["auth"] for c in fake_slack.calls} == {f"Bearer {TOKEN}"}
        assert {c["path"] for c in fake_slack.calls} == {"/chat.postMessage"}

    status, _ = send_event(slack, payload, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert status == 200
    # The student's next message in the thread (no mention needed there) is answered after any
    # duplicate would have been: Rasa handles one student's messages in the order they came.
    follow_up = event("tell me more", user=payload["event"]["user"], kind="message", channel_type="channel", thread_ts=ts)
    assert send_event(slack, follow_up)[0] == 200
    posts = fake_slack.wait(ts, count=3)
    time.sleep(1)
    posts = fake_slack.posts(ts)
    assert len(posts) == 3 and section_text(posts[2]).startswith(MORE)


@pytest.mark.e2e
def test_forged_stale_unsigned_and_bot_requests_get_no_answer(slack, fake_slack):
    forged = event(f"<@{BOT}> {CLAIM}", user=user())
    body = json.dumps(forged).encode()
    status, _ = slack.request("POST", "/webhooks/slack/events", raw=body, headers=signed(body, secret="not-the-secret"))
    assert status in (401, 403)
    status, _ = slack.request("POST", "/webhooks/slack/events", raw=body)
    assert status in (401, 403)
    stale = event(f"<@{BOT}> {CLAIM}", user=user())
    body = json.dumps(stale).encode()
    status, _ = slack.request("POST", "/webhooks/slack/events", raw=body, headers=signed(body, timestamp=time.time() - 400))
    assert 400 <= status < 500
    own = event(CLAIM, user=BOT, kind="message", channel_type="im")
    other_bot = event(CLAIM, user=user(), kind="message", channel_type="im", bot_id="B123", subtype="bot_message")
    assert send_event(slack, own)[0] == 200 and send_event(slack, other_bot)[0] == 200
    time.sleep(3)  # nothing should come; refusals never start an answer, so this is belt and braces
    for payload in (forged, stale, own, other_bot):
        assert fake_slack.posts(payload["event"]["ts"]) == []


@pytest.mark.e2e
def test_a_button_click_is_answered_in_the_thread(slack, fake_slack):
    student = user()
    payload = event(f"<@{BOT}> the bolsheviks just staged a coup in october", user=student)
    ts = payload["event"]["ts"]
    send_event(slack, payload)
    fake_slack.wait(ts, count=2)
    body = click("/tell_more", student, thread_ts=ts, message_ts=new_ts())
    status, _ = slack.request(
        "POST", "/webhooks/slack/interactions", raw=body,
        headers={**signed(body), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200
    posts = fake_slack.wait(ts, count=3)
    assert section_text(posts[2]).startswith(MORE) and "\n> " in section_text(posts[2])


@pytest.mark.e2e
def test_each_slack_user_is_a_separate_student(slack, fake_slack):
    ann, bob = user(), user()
    first = event(f"<@{BOT}> {CLAIM}", user=ann)
    second = event(f"<@{BOT}> every country run by leninists became a one-party police state", user=bob)
    send_event(slack, first)
    send_event(slack, second)
    fake_slack.wait(first["event"]["ts"], count=2)
    fake_slack.wait(second["event"]["ts"], count=2)
    ann_tracker = slack.tracker(f"slack:{TEAM}:{ann}")
    bob_tracker = slack.tracker(f"slack:{TEAM}:{bob}")
    ann_said = [e["text"] for e in ann_tracker["events"] if e["event"] == "user"]
    bob_said = [e["text"] for e in bob_tracker["events"] if e["event"] == "user"]
    assert ann_said == [CLAIM]  # the mention is stripped before NLU
    assert bob_said == ["every country run by leninists became a one-party police state"]
    assert ann_tracker["slots"]["raised_points"] == ["claim_authoritarian_personality"]
    assert bob_tracker["slots"]["raised_points"] == ["claim_leninist_regimes"]
    assert ann_tracker["latest_input_channel"] == "slack"


@pytest.mark.e2e
def test_a_student_joins_a_class_from_slack(slack, assistant, fake_slack):
    from bot.classroom import accounts, db

    engine = db.engine_for(f"sqlite:///{assistant.tracker_db}")
    name = f"slack-teacher-{uuid.uuid4().hex[:6]}"
    accounts.add_teacher(engine, name)
    room = accounts.create_class(engine, name, "Slack Seminar")
    student = user()
    payload = event(f"join {room.shown_code}", user=student, kind="message", channel_type="im")
    assert send_event(slack, payload)[0] == 200
    (post,) = fake_slack.wait(payload["event"]["ts"], count=1)
    assert "You've joined the class Slack Seminar" in (section_text(post) or post["text"])
    assert [m.sender_id for m in accounts.members(engine, room.id)] == [f"slack:{TEAM}:{student}"]
