"""Formatting of essay material for chat: quotations, source lists, the six points.

Only layout lives here; the words around it are the domain's responses.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.essay import Essay
from bot.footnotes import Footnote
from bot.retrieval import Hit


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


def hit_sources(essay: Essay, hit: Hit) -> str:
    return source_lines(essay, hit.passage.section, hit.sources)


def passages_digest(essay: Essay, hits: list[Hit]) -> str:
    """Several passages, each quoted with its own sources, for a question about the essay."""
    return "\n\n".join(
        f"({hit.passage.section})\n{hit_quote(hit)}\n{hit_sources(essay, hit)}" for hit in hits
    )


def numbered(lines: Iterable[str]) -> str:
    return "\n".join(f"{n}. {line}" for n, line in enumerate(lines, 1))
