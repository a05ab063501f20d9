"""Rasa's REST channel with safe edges: clear 4xx for bad requests, never an empty reply."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.edges import before_nlu, failure_reply, unreachable

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
ALLOWED_FIELDS = {"sender", "message", "metadata", "input_channel"}
USAGE = 'POST a JSON object: {"sender": "<student id>", "message": "<text>"}'


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message, "usage": USAGE}, status=status)


def parse_body(raw: bytes) -> tuple[dict[str, Any] | None, HTTPResponse | None]:
    """The request's fields, or the 4xx that says what is wrong with it."""
    if len(raw) > MAX_BODY_BYTES:
        return None, _error(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        return None, _error(400, "the request body is not valid JSON")
    if not isinstance(body, dict):
        return None, _error(400, "the request body must be a JSON object")
    unknown = sorted(set(body) - ALLOWED_FIELDS)
    if unknown:
        return None, _error(400, f"unknown field(s): {', '.join(unknown)}")
    sender, message = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > 128:
        return None, _error(400, "'sender' must be a non-empty string of at most 128 characters")
    if not isinstance(message, str):
        return None, _error(400, "'message' must be a string")
    if "metadata" in body and not isinstance(body["metadata"], dict | None):
        return None, _error(400, "'metadata' must be a JSON object")
    return body, None


class TutorRestInput(InputChannel):
    """Served at /webhooks/rest/webhook, like the stock channel it replaces."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("tutor_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body, error = parse_body(request.body)
            if error is not None:
                return error
            screened = await before_nlu(body["sender"], body["message"])
            if screened.reply is not None:
                return response.json([{"recipient_id": body["sender"], "text": screened.reply}])
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(
                        screened.text,
                        collector,
                        body["sender"],
                        input_channel=body.get("input_channel") or self.name(),
                        metadata=body.get("metadata"),
                    )
                )
            except Exception as error:
                logger.exception("message from %s not handled", body["sender"])
                return response.json([{"recipient_id": body["sender"], "text": failure_reply(error)}], status=503)
            messages = collector.messages or [{"recipient_id": body["sender"], "text": unreachable()}]
            return response.json(messages)

        return webhook
