"""The assistant in Slack: Events API and Block Kit interactions in, chat.postMessage out.

Written instead of Rasa's stock Slack connector because that one answers a retried event
twice and posts plain text. Here every request is signature-checked, acknowledged at once
(the answer is posted from a background task, so Slack's 3-second limit is never at risk),
and each event and each Slack message is answered at most once.

Routes (under Rasa's /webhooks/slack/):
  POST events        Events API: url_verification, app_mention, message (DMs, followed threads)
  POST interactions  block_actions from the buttons under the bot's answers (form `payload=`)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import mrkdwn
from bot.channels.edges import before_nlu, failure_reply, unreachable

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://slack.com/api"
MAX_AGE_SECONDS = 300  # Slack's advice: older signed requests may be replays
MAX_BODY_BYTES = 1 << 20
# Message subtypes that are still a person writing; the rest (bot_message, message_changed,
# message_deleted, channel_join, ...) are not answered.
ANSWERED_SUBTYPES = {None, "thread_broadcast", "file_share"}

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature: HMAC-SHA256 of "v0:{timestamp}:{raw body}" with the signing secret."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def request_age(timestamp: str | None, now: float | None = None) -> float | None:
    """Seconds between the request's timestamp and now, or None if it is not a number."""
    try:
        sent = int((timestamp or "").strip())
    except ValueError:
        return None
    return abs((time.time() if now is None else now) - sent)


def verify_signature(
    secret: str,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    now: float | None = None,
    max_age: float = MAX_AGE_SECONDS,
) -> bool:
    """True only for a fresh request signed with `secret`; an empty secret verifies nothing."""
    if not secret or not timestamp or not signature_header:
        return False
    age = request_age(timestamp, now)
    if age is None or age > max_age:
        return False
    expected = signature(secret, timestamp, body).encode()
    return hmac.compare_digest(expected, signature_header.encode("utf-8", "replace"))


class SeenKeys:
    """Keys seen within the last `ttl` seconds, at most `size` of them (the oldest go first).

    Slack retries an event it thinks was not acknowledged (after about 0 s, 1 min and 5 min), so
    an hour covers every retry. This lives in one process's memory: with several Rasa servers
    behind a load balancer a retry can reach another server, and a shared store (e.g. Redis
    `SET key 1 NX EX 3600`) would be needed instead.
    """

    def __init__(self, ttl: float = 3600.0, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._expiry: OrderedDict[Hashable, float] = OrderedDict()

    def _forget_expired(self) -> None:
        now = self.clock()
        while self._expiry and next(iter(self._expiry.values())) <= now:
            self._expiry.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        self._forget_expired()
        return key in self._expiry

    def __len__(self) -> int:
        self._forget_expired()
        return len(self._expiry)

    def add(self, key: Hashable) -> None:
        self._forget_expired()
        self._expiry.pop(key, None)
        self._expiry[key] = self.clock() + self.ttl
        while len(self._expiry) > self.size:
            self._expiry.popitem(last=False)

    def first(self, key: Hashable) -> bool:
        """True the first time `key` is seen within the TTL (and remembers it)."""
        if key in self:
            return False
        self.add(key)
        return True


@dataclass(frozen=True)
class Incoming:
    """A student's message (or button click) to answer, and where to answer it."""

    text: str
    team: str
    user: str
    channel: str
    thread_ts: str
    ts: str

    @property
    def sender_id(self) -> str:
        """One Rasa conversation per Slack user (per workspace): each user is their own student."""
        return f"slack:{self.team or '_'}:{self.user}"

    def metadata(self) -> dict[str, Any]:
        return {"slack": {"team": self.team, "user": self.user, "channel": self.channel, "thread_ts": self.thread_ts}}


@dataclass(frozen=True)
class Verdict:
    """What to answer Slack's HTTP request with, and the message to process after answering."""

    status: int
    body: dict[str, Any] | str = ""
    incoming: Incoming | None = None


class SlackWebApi:
    """The one Slack Web API method the channel needs; the base URL is configurable for tests."""

    def __init__(self, token: str, base: str = DEFAULT_API_BASE, timeout: float = 10.0) -> None:
        self.token, self.base, self.timeout = token, (base or DEFAULT_API_BASE).rstrip("/"), timeout

    async def post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        """chat.postMessage; waits out a rate limit (429 Retry-After) twice at most, never raises."""
        if not self.token:
            logger.error("SLACK_BOT_TOKEN is empty: cannot post the answer to Slack")
            return {"ok": False, "error": "no_token"}
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json; charset=utf-8"}
        data = json.dumps(body).encode()
        for attempt in range(3):
            try:
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                    session.post(f"{self.base}/chat.postMessage", data=data, headers=headers) as reply,
                ):
                    if reply.status == 429 and attempt < 2:
                        await asyncio.sleep(min(float(reply.headers.get("Retry-After", "1")), 30.0))
                        continue
                    result = await reply.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError, ValueError) as error:
                logger.error("chat.postMessage to %s failed: %r", self.base, error)
                return {"ok": False, "error": repr(error)}
            if not isinstance(result, dict) or not result.get("ok"):
                logger.error("chat.postMessage was refused: %s", result)
                return result if isinstance(result, dict) else {"ok": False, "error": "bad_reply"}
            return result
        return {"ok": False, "error": "ratelimited"}


class SlackOutput(OutputChannel):
    """Posts the bot's replies into the student's thread: mrkdwn sections and Block Kit buttons."""

    @classmethod
    def name(cls) -> str:
        return "slack"

    def __init__(self, api: SlackWebApi, channel: str, thread_ts: str) -> None:
        super().__init__()
        self.api, self.channel, self.thread_ts = api, channel, thread_ts
        self.attempts = 0

    async def _post(self, body: dict[str, Any]) -> None:
        self.attempts += 1
        await self.api.post_message(
            {"channel": self.channel, "thread_ts": self.thread_ts, "unfurl_links": False, "unfurl_media": False, **body}
        )

    async def _send(self, markdown: str, buttons: list[dict[str, Any]] | None = None) -> None:
        for body in mrkdwn.messages(markdown, buttons):
            await self._post(body)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send(text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send(text, buttons)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._post({"text": image, "blocks": [{"type": "image", "image_url": image, "alt_text": "image"}]})

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """A response's `custom:` is a chat.postMessage body (e.g. its own `blocks`), sent as is."""
        await self._post(dict(json_message))


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(key).lower(): str(value) for key, value in headers.items()}


class SlackChannel(InputChannel):
    """Rasa input channel for Slack, configured in credentials.yml from SLACK_* variables."""

    @classmethod
    def name(cls) -> str:
        return "slack"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SlackChannel:
        """Empty or missing values are allowed: the channel then refuses requests instead of failing startup."""
        values = {key: "" if value is None else str(value).strip() for key, value in (credentials or {}).items()}
        return cls(
            bot_token=values.get("bot_token", ""),
            signing_secret=values.get("signing_secret", ""),
            api_base=values.get("api_base", "") or DEFAULT_API_BASE,
            bot_user_id=values.get("bot_user_id", ""),
        )

    def __init__(
        self, bot_token: str = "", signing_secret: str = "", api_base: str = DEFAULT_API_BASE, bot_user_id: str = ""
    ) -> None:
        self.signing_secret = signing_secret
        self.bot_user_id = bot_user_id
        self.api = SlackWebApi(bot_token, api_base)
        self.seen = SeenKeys()
        self.threads = SeenKeys(ttl=24 * 3600.0)  # threads the bot answered in: follow-ups need no @mention
        self._tasks: set[asyncio.Task] = set()
        if not signing_secret:
            logger.warning("SLACK_SIGNING_SECRET is empty: the Slack channel refuses every request (403)")

    # -- checking and reading Slack's requests (no I/O, so tests call these directly) --

    def _refusal(self, headers: dict[str, str], raw: bytes, now: float | None) -> Verdict | None:
        if len(raw) > MAX_BODY_BYTES:
            return Verdict(413, {"error": "request body too large"})
        if not self.signing_secret:
            return Verdict(403, {"error": "the Slack channel is not configured (no signing secret)"})
        timestamp, signed = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
        if not timestamp or not signed:
            return Verdict(401, {"error": "missing X-Slack-Signature or X-Slack-Request-Timestamp"})
        age = request_age(timestamp, now)
        if age is None or age > MAX_AGE_SECONDS:
            logger.warning("refused a Slack request with a stale or bad timestamp %r", timestamp)
            return Verdict(401, {"error": "stale or invalid X-Slack-Request-Timestamp"})
        if not verify_signature(self.signing_secret, timestamp, signed, raw, now):
            logger.warning("refused a Slack request with a bad signature")
            return Verdict(401, {"error": "invalid X-Slack-Signature"})
        return None

    def _bot_user(self, body: dict[str, Any]) -> str:
        """The bot's own user id: configured, else the one Slack names in the event's authorizations."""
        if self.bot_user_id:
            return self.bot_user_id
        for authorization in body.get("authorizations") or []:
            if isinstance(authorization, dict) and authorization.get("is_bot") and authorization.get("user_id"):
                return str(authorization["user_id"])
        return ""

    def _incoming_event(self, body: dict[str, Any]) -> Incoming | None:
        """The student's message in an event, or None for everything the bot must not answer."""
        event = body.get("event")
        if not isinstance(event, dict) or event.get("type") not in ("app_mention", "message"):
            return None
        if event.get("bot_id") or event.get("bot_profile") or event.get("subtype") not in ANSWERED_SUBTYPES:
            return None
        bot = self._bot_user(body)
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        if not (user and channel and ts) or user == bot:
            return None
        thread_ts = str(event.get("thread_ts") or ts)
        if event["type"] == "message" and event.get("channel_type") != "im" and (channel, thread_ts) not in self.threads:
            return None  # channel chatter: only @mentions, DMs and threads the bot is in are for us
        team = str(body.get("team_id") or event.get("team") or "")
        text = mrkdwn.from_slack(str(event.get("text") or ""), bot)
        return Incoming(text, team, str(user), str(channel), thread_ts, str(ts))

    def receive_event(self, headers: Mapping[str, str], raw: bytes, now: float | None = None) -> Verdict:
        """Check and read one Events API request; answers each event and each message once."""
        headers = _headers(headers)
        refusal = self._refusal(headers, raw, now)
        if refusal:
            return refusal
        try:
            body = json.loads(raw)
        except ValueError:
            return Verdict(400, {"error": "the body is not JSON"})
        if not isinstance(body, dict):
            return Verdict(400, {"error": "the body is not a JSON object"})
        if body.get("type") == "url_verification":
            return Verdict(200, {"challenge": str(body.get("challenge", ""))})
        if body.get("type") != "event_callback":
            return Verdict(200)
        event_id = body.get("event_id")
        if event_id and not self.seen.first(("event", event_id)):
            logger.info(
                "Slack sent event %s again (retry %s, %s): already handled",
                event_id, headers.get("x-slack-retry-num"), headers.get("x-slack-retry-reason"),
            )
            return Verdict(200)
        incoming = self._incoming_event(body)
        # One Slack message can arrive as two events (`message` and `app_mention`): answer it once.
        if incoming is None or not self.seen.first(("message", incoming.channel, incoming.ts)):
            return Verdict(200)
        self.threads.add((incoming.channel, incoming.thread_ts))
        return Verdict(200, incoming=incoming)

    def receive_interaction(self, headers: Mapping[str, str], raw: bytes, now: float | None = None) -> Verdict:
        """Check and read one interactivity request: a button's value is the student's next message."""
        headers = _headers(headers)
        refusal = self._refusal(headers, raw, now)
        if refusal:
            return refusal
        try:
            payload = json.loads(parse_qs(raw.decode())["payload"][0])
        except (KeyError, IndexError, ValueError, UnicodeDecodeError):
            return Verdict(400, {"error": "expected a form field `payload` holding JSON"})
        if not isinstance(payload, dict) or payload.get("type") != "block_actions":
            return Verdict(200)
        actions = [a for a in payload.get("actions") or [] if isinstance(a, dict)]
        action = next((a for a in actions if a.get("type") == "button" and a.get("value")), None)
        user = payload.get("user") or {}
        container = payload.get("container") or {}
        message = payload.get("message") or {}
        channel = (payload.get("channel") or {}).get("id") or container.get("channel_id")
        if action is None or not user.get("id") or not channel:
            return Verdict(200)
        clicked = str(action.get("action_ts") or payload.get("trigger_id") or "")
        if not self.seen.first(("click", user["id"], clicked)):
            return Verdict(200)
        thread_ts = message.get("thread_ts") or container.get("thread_ts") or message.get("ts") or container.get("message_ts")
        team = (payload.get("team") or {}).get("id") or user.get("team_id") or ""
        incoming = Incoming(str(action["value"]), str(team), str(user["id"]), str(channel), str(thread_ts or ""), clicked)
        self.threads.add((incoming.channel, incoming.thread_ts))
        return Verdict(200, incoming=incoming)

    # -- answering --

    async def answer(self, on_new_message: OnNewMessage, incoming: Incoming) -> None:
        """Run the message through Rasa and post every reply; never leave the student unanswered."""
        output = SlackOutput(self.api, incoming.channel, incoming.thread_ts)
        failure: Exception | None = None
        try:
            screened = await before_nlu(incoming.sender_id, incoming.text)
            if screened.reply is not None:
                await output.send_text_message(incoming.sender_id, screened.reply)
                return
            await on_new_message(
                UserMessage(
                    screened.text, output, incoming.sender_id, input_channel=self.name(), metadata=incoming.metadata()
                )
            )
        except Exception as error:
            logger.exception("answering Slack message %s from %s failed", incoming.ts, incoming.sender_id)
            failure = error
        if not output.attempts:
            reply = failure_reply(failure) if failure is not None else unreachable()
            await output.send_text_message(incoming.sender_id, reply)

    def _start(self, on_new_message: OnNewMessage, incoming: Incoming) -> None:
        task = asyncio.get_running_loop().create_task(self.answer(on_new_message, incoming))
        self._tasks.add(task)  # keep a reference, or the task may be garbage-collected mid-way
        task.add_done_callback(self._tasks.discard)

    def _reply(self, verdict: Verdict, on_new_message: OnNewMessage) -> HTTPResponse:
        if verdict.incoming is not None:
            self._start(on_new_message, verdict.incoming)
        if isinstance(verdict.body, dict):
            return response.json(verdict.body, status=verdict.status)
        return response.text(verdict.body, status=verdict.status)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint("tutor_slack_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "configured": bool(self.signing_secret)})

        @webhook.route("/events", methods=["POST"])
        async def events(request: Request) -> HTTPResponse:
            return self._reply(self.receive_event(request.headers, request.body or b""), on_new_message)

        @webhook.route("/interactions", methods=["POST"])
        async def interactions(request: Request) -> HTTPResponse:
            return self._reply(self.receive_interaction(request.headers, request.body or b""), on_new_message)

        return webhook
