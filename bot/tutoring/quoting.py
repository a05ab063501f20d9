"""Quoting a passage as a reader would: whole sentences, in order, ``[…]`` where some are skipped.

Sentences are found by rules that know English prose, not this essay: a full stop after an
abbreviation or an initial ends nothing, a sentence inside an open quotation runs on to the
quotation's end, and a table or a list is one unit that is never cut.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ELLIPSIS", "Span", "compact_source", "join_quote", "sentence_spans", "sentences", "words"]

ELLIPSIS = "[…]"
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "st", "vol", "vols", "p", "pp", "ed", "eds", "cf", "e.g", "i.e", "vs", "no", "nos",
    "ch", "fig", "approx", "jr", "sr", "prof", "gen", "col", "lt", "rev", "op", "cit", "ibid", "trans", "c",
})
_END = re.compile(r"[.!?…]+(?P<close>[\"'’”)\]]*)(?=\s+|$)")
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")
_OPENERS = "\"'‘“([-–—"


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def words(text: str) -> int:
    return len(text.split())


def _quote_depth(text: str) -> int:
    """Quotations opened and not yet closed in ``text`` (apostrophes inside words are not quotes)."""
    depth = 0
    for i, char in enumerate(text):
        if char not in "'\"‘’“”":
            continue
        before = text[i - 1] if i else " "
        after = text[i + 1] if i + 1 < len(text) else " "
        if before.isalnum() and after.isalnum():
            continue
        opening = not before.strip() or before in "([—–-" or char in "‘“"
        closing = not after.strip() or after in ".,;:!?)]—–-" or char in "’”"
        if char in "‘“" or (opening and not closing):
            depth += 1
        elif depth and (char in "’”" or closing):
            depth -= 1
    return depth


def _ends_here(text: str, match: re.Match) -> bool:
    before = text[: match.start()]
    last = before.split()[-1] if before.split() else ""
    token = last.lstrip(_OPENERS).lower()
    initials = _INITIALS.fullmatch(token) is not None
    if match.group(0).startswith(".") and not match.group("close") and (token in ABBREVIATIONS or initials):
        return False
    rest = text[match.end():].lstrip()
    if not rest:
        return True
    first = rest[0]
    if not (first.isupper() or first.isdigit() or first in _OPENERS):
        return False
    return _quote_depth(text[: match.end()]) == 0


def sentence_spans(text: str) -> list[Span]:
    """Where each sentence of a paragraph starts and ends; a line break always ends one."""
    spans: list[Span] = []
    offset = 0
    for line in text.split("\n"):
        start = 0
        for match in _END.finditer(line):
            if _ends_here(line, match):
                piece = line[start:match.end()]
                if piece.strip():
                    lead = len(piece) - len(piece.lstrip())
                    spans.append(Span(offset + start + lead, offset + match.end()))
                start = match.end()
        tail = line[start:]
        if tail.strip():
            lead = len(tail) - len(tail.lstrip())
            spans.append(Span(offset + start + lead, offset + len(line.rstrip())))
        offset += len(line) + 1
    return spans


def sentences(text: str, kind: str = "paragraph") -> list[str]:
    """The sentences of a block's text; a table or a list is one unit."""
    if kind in ("table", "list"):
        return [text]
    return [text[s.start:s.end] for s in sentence_spans(text)]


def join_quote(units: Sequence[str], chosen: Sequence[int]) -> str:
    """The chosen sentences in the passage's order, ``[…]`` wherever sentences are left out."""
    picked = sorted(set(chosen))
    parts: list[str] = []
    if picked and picked[0] > 0:
        parts.append(ELLIPSIS)
    for n, index in enumerate(picked):
        if n and index != picked[n - 1] + 1:
            parts.append(ELLIPSIS)
        parts.append(units[index])
    if picked and picked[-1] < len(units) - 1:
        parts.append(ELLIPSIS)
    return " ".join(parts)


_NAME = r"(?:[A-Z]\.\s?){0,3}[A-Z][\w'’-]*(?: (?:de |van |von )?[A-Z][\w'’-]*){0,3}"
_QUOTED = r"'[^']+'|‘[^’]+’|\"[^\"]+\"|“[^”]+”"
_CITED = re.compile(
    rf"(?<![\w'’-])(?P<author>{_NAME})(?: ?, (?P<title>{_QUOTED}|as above|[A-Z0-9][^,;:()]*?)|,? (?P<quoted>{_QUOTED}))"
    r"(?=[,;:(]|\. |\.$|$)"
)
_OPENING_WORDS = frozenset({"See", "For", "In", "The", "This", "Cited", "Quoted", "Also", "It", "As", "Particularly"})
_AS_ABOVE = re.compile(r"^(?:as above|ibid\.?|op\.? cit\.?)$", re.IGNORECASE)


def _cited(note: str) -> tuple[str, str] | None:
    for match in _CITED.finditer(note):
        author = match.group("author")
        first = author.split()[0]
        if first in _OPENING_WORDS:
            author = " ".join(author.split()[1:])
            if not author:
                continue
        title = (match.group("title") or match.group("quoted")).strip().strip("'‘’\"“”")
        if not title or title.isdigit() or (words(author) == 1 and words(title) == 1 and not match.group("quoted")):
            continue  # "Surname, Surname": a list of names, not a work
        return author, title
    return None


def compact_source(number: int, text: str, limit: int = 70, earlier: dict[str, str] | None = None) -> str:
    """``[n] Author, Short title``: the first work a footnote cites, for a short answer.

    A work is a capitalised name followed by a title (quoted, or up to the next comma);
    "as above" takes the title last cited for that author (``earlier``, filled as notes are
    read in order). A note citing no recognisable work is cut at a word boundary.
    """
    note = " ".join(text.split())
    found = _cited(note)
    if found:
        author, title = found
        if _AS_ABOVE.match(title) and earlier and author in earlier:
            title = earlier[author]
        elif earlier is not None and not _AS_ABOVE.match(title):
            earlier[author] = title
        short = title if words(title) <= 8 else " ".join(title.split()[:8]) + "…"
        return f"[{number}] {author}, {short}"
    if len(note) <= limit:
        return f"[{number}] {note}"
    cut = note[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:")
    return f"[{number}] {cut}…"
