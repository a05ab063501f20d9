"""Formatting of essay material for chat: quotations, source lists, the numbered points.

Only layout lives here; the words around it are the domain's responses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.essay.footnotes import Footnote
from bot.essay.parse import Essay
from bot.search.retrieval import Hit


def quote(text: str) -> str:
    """A Markdown block quote (also Slack's): every line starts with '> '."""
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def hit_quote(hit: Hit) -> str:
    """The passage as a quotation; the quotation it introduces is nested inside it."""
    text = hit.passage.text
    if hit.follower is not None:
        text += "\n\n" + quote(hit.follower.text)
    return quote(text)


def source_lines(essay: Essay, section: str, footnotes: Iterable[Footnote]) -> str:
    """The essay itself (with the section), then each footnote the passage cites."""
    lines = [f"- {essay.citation}, section \"{section}\""]
    lines += [f"- {note.citation()}" for note in footnotes]
    return "\n".join(lines)


def compact_source_lines(essay: Essay, section: str, numbers: Iterable[int], compact: Mapping[int, str]) -> str:
    """The essay and section, then ``[n] Author, Short title`` for each footnote the quotation cites."""
    lines = [f"- {essay.citation}, section \"{section}\""]
    lines += [f"- {compact[n]}" for n in numbers if n in compact]
    return "\n".join(lines)


def numbered(lines: Iterable[str]) -> str:
    return "\n".join(f"{n}. {line}" for n, line in enumerate(lines, 1))


def templates(domain: Mapping[str, Any]) -> dict[str, str]:
    """The first text of each domain response: the wording of lines an action lays out itself."""
    return {name: variants[0]["text"] for name, variants in (domain.get("responses") or {}).items() if variants}
