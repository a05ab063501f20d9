"""Markdown from the bot to Slack mrkdwn, and Slack's markup in students' messages back to text.

Slack does not read Markdown: `**bold**` and `[t](url)` show literally, and `&`, `<`, `>`
are control characters that must be escaped, except the `>` that starts a quote line.
"""

from __future__ import annotations

import re
from typing import Any

SECTION_LIMIT = 3000  # Slack's limit on a section block's text
MAX_BLOCKS = 50  # Slack's limit on blocks in one message
MAX_BUTTONS = 25  # Slack's limit on elements in one actions block
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000

_QUOTE = re.compile(r"^((?:>[ \t]?)+)(.*)$")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_INLINE = re.compile(
    r"\[(?P<label>[^\]\n]+)\]\((?P<url>(?:https?://|mailto:)[^)\s]+)\)"
    r"|\*\*(?P<bold>[^\n]+?)\*\*"
    r"|(?<![*\w])\*(?P<italic>[^*\s](?:[^*\n]*[^*\s])?)\*(?![*\w])"
)


def escape(text: str) -> str:
    """Slack's three control characters as entities (only these: Slack wants no other HTML)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link_target(url: str) -> str:
    return escape(url).replace("|", "%7C").replace(" ", "%20")


def _inline(text: str) -> str:
    """Escape plain text; turn Markdown links, bold and italics into mrkdwn."""
    out: list[str] = []
    position = 0
    for match in _INLINE.finditer(text):
        out.append(escape(text[position : match.start()]))
        if match.group("url"):
            out.append(f"<{_link_target(match.group('url'))}|{escape(match.group('label'))}>")
        elif match.group("bold") is not None:
            out.append(f"*{escape(match.group('bold'))}*")
        else:
            out.append(f"_{escape(match.group('italic'))}_")
        position = match.end()
    out.append(escape(text[position:]))
    return "".join(out)


def _line(line: str) -> str:
    quoted = _QUOTE.match(line)
    depth, body = (quoted.group(1).count(">"), quoted.group(2)) if quoted else (0, line)
    heading, bullet = _HEADING.match(body), _BULLET.match(body)
    if heading:
        body = f"*{_inline(heading.group(1))}*"
    elif bullet:
        body = f"{bullet.group(1)}• {_inline(bullet.group(2))}"
    else:
        body = _inline(body)
    if not depth:
        return body
    # Slack has one level of quote: the first marker stays literal, deeper ones show as "> " text.
    inner = "&gt; " * (depth - 1) + body
    return f"> {inner}".rstrip() if inner.strip() else ">"


def to_mrkdwn(markdown: str) -> str:
    """The bot's Markdown as Slack mrkdwn, line by line (quote lines keep a literal "> ")."""
    return "\n".join(_line(line) for line in markdown.replace("\r\n", "\n").split("\n"))


def _quote_prefix(line: str) -> str:
    match = re.match(r"^(> (?:&gt; )*)", line)
    return match.group(1) if match else ""


def _cut(text: str, limit: int) -> int:
    """Where to break an over-long line: the last space before the limit, never inside an entity."""
    cut = text.rfind(" ", 1, limit + 1)
    if cut <= 0:
        cut = limit
        amp = text.rfind("&", max(0, cut - 5), cut)
        if amp > 0 and ";" not in text[amp:cut]:
            cut = amp
    return cut


def _split_line(line: str, limit: int) -> list[str]:
    prefix = _quote_prefix(line)
    if len(prefix) > limit // 2:
        prefix = ""
    pieces, rest = [], line
    while len(rest) > limit:
        cut = _cut(rest, limit)
        pieces.append(rest[:cut].rstrip())
        rest = prefix + rest[cut:].lstrip()
    return [*pieces, rest]


def split_sections(mrkdwn: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Pack lines into chunks of at most `limit` characters; a quote stays a quote across chunks."""
    lines = [piece for line in mrkdwn.split("\n") for piece in _split_line(line, limit)]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            chunks.append("\n".join(current))
            current, size, extra = [], 0, len(line)
        current.append(line)
        size += extra
    if current:
        chunks.append("\n".join(current))
    return [chunk for chunk in (c.strip("\n") for c in chunks) if chunk.strip()]


def _button(index: int, button: dict[str, Any]) -> dict[str, Any]:
    title = str(button.get("title") or button.get("payload") or "…")
    if len(title) > BUTTON_TEXT_LIMIT:
        title = title[: BUTTON_TEXT_LIMIT - 1] + "…"
    return {
        "type": "button",
        "action_id": f"rasa_button_{index}",
        "text": {"type": "plain_text", "text": title, "emoji": True},
        "value": str(button.get("payload", ""))[:BUTTON_VALUE_LIMIT],
    }


def messages(markdown: str, buttons: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One or more chat.postMessage bodies (without channel): `text` fallback plus Block Kit blocks.

    Buttons become one actions block on the last message; Slack sends their `value` (the Rasa
    payload, e.g. "/tell_more") back as a block_actions interaction.
    """
    mrkdwn = to_mrkdwn(markdown)
    sections = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in split_sections(mrkdwn)]
    actions = []
    usable = [b for b in buttons or [] if b.get("payload")]
    if usable:
        actions = [{"type": "actions", "elements": [_button(i, b) for i, b in enumerate(usable[:MAX_BUTTONS])]}]
    blocks = sections + actions
    if not blocks:
        return []
    groups = [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)]
    out = []
    for group in groups:
        texts = [b["text"]["text"] for b in group if b["type"] == "section"]
        fallback = "\n".join(texts) or mrkdwn or " "
        if len(fallback) > SECTION_LIMIT:
            fallback = fallback[: _cut(fallback, SECTION_LIMIT - 1)].rstrip() + "…"
        out.append({"text": fallback, "blocks": group})
    return out


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?://|mailto:)[^|>]+)(?:\|([^>]*))?>")


def from_slack(text: str, bot_user_id: str | None = None) -> str:
    """A student's Slack message as plain text for NLU: the bot's mention dropped, markup unwrapped."""

    def mention(match: re.Match[str]) -> str:
        if bot_user_id and match.group(1) == bot_user_id:
            return " "
        return f"@{match.group(2) or 'someone'}"

    text = _MENTION.sub(mention, text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(2) or 'channel'}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1).removeprefix("mailto:"), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]+", " ", text).strip()
