"""Footnotes: their numbers, full text and URLs, from the lines that hold them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.essay.markers import SUPERSCRIPT_RUN, footnote_start, superscript_to_int

_URL = re.compile(r"https?://\S+")
# A URL the extraction broke at a slash: "…/1917/nov/ 06a.htm".
_BROKEN_URL = re.compile(r"(https?://\S+/) (\S+\.(?:htm|html|php|pdf))\b")
# A second footnote on the same line: after a full stop, a superscript or a bare number.
_NEXT_NOTE = re.compile(rf"(?<=\.)\s+(?:({SUPERSCRIPT_RUN})|(\d{{1,3}})\s)(?=\S)")


@dataclass(frozen=True)
class Footnote:
    number: int
    text: str
    url: str | None = None
    span: tuple[int, int] | None = None  # offsets of the source line that holds it
    missing: bool = False

    def citation(self) -> str:
        """How the footnote is shown as a source: ``[10] Author, 'Title', ...``."""
        return f"[{self.number}] {self.text}" if not self.missing else f"[{self.number}] (text missing from the source)"


def _clean(text: str) -> str:
    text = _BROKEN_URL.sub(r"\1\2", text)
    text = text.replace("**", "").replace("*", "")
    return re.sub(r"\s+", " ", text).strip()


def _url(text: str) -> str | None:
    match = _URL.search(text)
    return match.group(0).rstrip(".,;)") if match else None


def split_footnote_line(line: str, offset: int = 0) -> list[Footnote]:
    """Every footnote that starts on ``line`` (usually one, sometimes two run together).

    A second footnote is only split off where its number is the next in sequence, so a
    page number such as "p. 59" is never mistaken for one.
    """
    start = footnote_start(line)
    if start is None:
        return []
    number, rest = start
    span = (offset, offset + len(line))
    notes: list[Footnote] = []
    while True:
        split = None
        for match in _NEXT_NOTE.finditer(rest):
            digits = match.group(1) or match.group(2)
            following = superscript_to_int(digits) if match.group(1) else int(digits)
            if following == number + 1:
                split = (match, following)
                break
        body = rest if split is None else rest[: split[0].start()]
        text = _clean(body)
        notes.append(Footnote(number, text, _url(text), span))
        if split is None:
            return notes
        rest = rest[split[0].end():]
        number = split[1]
