"""Footnote markers in every style the PDF extraction produced, reduced to numbers.

Styles seen: Unicode superscripts (``¹⁰``), ``^{56}``, ``^3``, ``$Name^{14}$``,
``alone^{'30}`` and, at the start of a footnote, ``$^{^{18}}$``, ``$^{^3\\}mathrm{See}$`` or
``$^{^{25}\\}mathrm{John}$``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_SUPER_TO_ASCII = str.maketrans(SUPERSCRIPT_DIGITS, "0123456789")
SUPERSCRIPT_RUN = f"[{SUPERSCRIPT_DIGITS}]+"

# A footnote's own number at the start of its line, in LaTeX or superscript form.
_LATEX_START = re.compile(r"\$\^\{\^(?:\{(\d+)\}|(\d+))(?:\\?\}?\\?mathrm\{([^}]*)\})?\}?\$\s*")
_SUPER_START = re.compile(rf"({SUPERSCRIPT_RUN})\s*")

# Markers inside body text; order matters (the wrapped forms first).
_BODY_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\$([^$\s]*?)\^\{(\d+)\}\$"), r"\1"),
    (re.compile(r"\^\{('?)(\d+)\}"), r"\1"),
    (re.compile(r"(?<=\d)\^(\d+)"), ""),
    (re.compile(SUPERSCRIPT_RUN), ""),
)


def superscript_to_int(text: str) -> int:
    return int(text.translate(_SUPER_TO_ASCII))


def footnote_start(line: str) -> tuple[int, str] | None:
    """The footnote number and the rest of the line, if ``line`` opens a footnote."""
    stripped = line.strip()
    match = _LATEX_START.match(stripped)
    if match:
        number = int(match.group(1) or match.group(2))
        head = match.group(3)
        rest = stripped[match.end():]
        return number, f"{head} {rest}".strip() if head else rest
    match = _SUPER_START.match(stripped)
    if match and match.end() < len(stripped):
        return superscript_to_int(match.group(1)), stripped[match.end():]
    return None


@dataclass(frozen=True)
class Citation:
    """A footnote marker found in clean text: ``offset`` is where it stood."""

    number: int
    offset: int


def strip_markers(text: str) -> tuple[str, list[Citation]]:
    """Remove every footnote marker from ``text``; return the clean text and the citations.

    Offsets in the returned citations index into the returned (clean) text.
    """
    found: list[tuple[int, int, int, str]] = []  # start, end, number, replacement
    taken: list[tuple[int, int]] = []
    for pattern, keep in _BODY_PATTERNS:
        for match in pattern.finditer(text):
            if any(s < match.end() and match.start() < e for s, e in taken):
                continue
            digits = match.group(match.lastindex or 0)
            number = superscript_to_int(digits) if digits[0] in SUPERSCRIPT_DIGITS else int(digits)
            replacement = match.expand(keep) if keep else ""
            start = match.start()
            if not replacement and start and text[start - 1] == " " and (
                match.end() == len(text) or text[match.end()] in ".,;:)"
            ):
                start -= 1  # "put it ⁵⁰." reads "put it."
            found.append((start, match.end(), number, replacement))
            taken.append((match.start(), match.end()))
    found.sort()
    pieces: list[str] = []
    citations: list[Citation] = []
    cursor = 0
    length = 0
    for start, end, number, replacement in found:
        chunk = text[cursor:start] + replacement
        pieces.append(chunk)
        length += len(chunk)
        citations.append(Citation(number, length))
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces), citations
