"""Screening and request checks shared by the channels, without a server."""

import json

import pytest

from bot.channels.edges import MAX_MESSAGE_CHARS, screen
from bot.channels.rest import MAX_BODY_BYTES, parse_body


def test_ordinary_text_passes_through_cleaned():
    assert screen("  Lenin\x00 was a dictator\x07 ").text == "Lenin was a dictator"
    assert screen("  Lenin was a dictator ").reply is None


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01\x02"])
def test_empty_messages_get_a_reply_instead_of_nlu(text):
    screened = screen(text)
    assert screened.text == "" and "didn't get any words" in screened.reply


def test_a_message_over_the_limit_is_answered_politely():
    screened = screen("x" * (MAX_MESSAGE_CHARS + 1))
    assert screened.text == "" and f"under {MAX_MESSAGE_CHARS} characters" in screened.reply
    assert screen("x" * MAX_MESSAGE_CHARS).reply is None


@pytest.mark.parametrize(
    ("raw", "status", "says"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"message": "hi"}', 400, "'sender'"),
        (b'{"sender": "a"}', 400, "'message'"),
        (b'{"sender": 5, "message": "hi"}', 400, "'sender'"),
        (b'{"sender": "a", "message": ["hi"]}', 400, "'message'"),
        (b'{"sender": "a", "message": "hi", "extra": 1}', 400, "unknown field(s): extra"),
        (b'{"sender": "a", "message": "hi", "metadata": "x"}', 400, "'metadata'"),
        (json.dumps({"sender": "a", "message": "x" * MAX_BODY_BYTES}).encode(), 413, "larger than"),
    ],
)
def test_bad_requests_get_a_4xx_that_says_what_is_wrong(raw, status, says):
    body, error = parse_body(raw)
    assert body is None and error.status == status
    assert says in json.loads(error.body)["error"]


def test_a_good_request_parses():
    body, error = parse_body(b'{"sender": "a", "message": "hi", "metadata": {"k": 1}}')
    assert error is None and body["message"] == "hi"


def _send(message_text, handler_replies):
    """Run the guarded handler once; return what the channel sent and whether NLU was reached."""
    import asyncio

    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    from bot.channels.edges import guarded

    reached = []

    async def on_new_message(message):
        reached.append(message.text)
        for text in handler_replies:
            await message.output_channel.send_response(message.sender_id, {"text": text})

    output = CollectingOutputChannel()
    asyncio.run(guarded(on_new_message)(UserMessage(message_text, output, "s")))
    return [m["text"] for m in output.messages], reached


def test_guarded_channels_screen_before_nlu():
    sent, reached = _send("x" * (MAX_MESSAGE_CHARS + 1), ["never"])
    assert reached == [] and "under 2000 characters" in sent[0]


def test_guarded_channels_pass_clean_text_and_the_bots_replies():
    sent, reached = _send(" Lenin\x00 was a dictator ", ["a rebuttal"])
    assert reached == ["Lenin was a dictator"] and sent == ["a rebuttal"]


def test_guarded_channels_are_never_silent():
    sent, reached = _send("tell me more", [])
    assert reached == ["tell me more"] and sent[0].startswith("I can't reach my sources right now")
