"""The essay as clean, cited blocks: sections, paragraphs, quotations, lists, tables, footnotes.

The source is a PDF extraction: paragraphs broken by page breaks and interrupted by footnote
blocks, hyphenated words split across them, quotation markers lost. The stages are:
corrections (data, applied to raw lines) -> line classification -> chunks -> joins across
breaks -> quotation merging -> clean text with footnote citations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from bot.essay.footnotes import Footnote, split_footnote_line
from bot.essay.markers import SUPERSCRIPT_DIGITS, Citation, footnote_start, strip_markers
from bot.settings import KNOWLEDGE_DIR

_LIST_ITEM = re.compile(r"-\s+(\d+)\.\s+")
_TABLE_START = re.compile(r"Table \d+\.")
_TRAILING_MARKER = re.compile(r"(\s*(\$[^$]*\$|\^\{'?\d+\}|\^\d+|[⁰¹²³⁴⁵⁶⁷⁸⁹]+))+$")
_SENTENCE_END = ".!?:;"
_CLOSERS = "'\"’”)]"
_SLUG_STOPWORDS = {"the", "of", "as", "a", "an", "it", "will", "and", "to"}
# *Emphasis* between word boundaries. Footnote markers are still in the text when it is
# tidied (they are stripped after, so citation offsets index the final text), and a
# superscript marker is a word character to `\w`: "*ad infinitum*⁶¹" must still count
# as emphasis, so a marker counts as a boundary here.
_WORD_NOT_MARKER = rf"[^\W{SUPERSCRIPT_DIGITS}]"
_EMPHASIS = re.compile(rf"(?<!{_WORD_NOT_MARKER})\*(\S[^*]*?\S|\S)\*(?!{_WORD_NOT_MARKER})")
# "Nietzsche/ Foucault": a space the extraction left after a slash between two words. The
# word before the slash must stand alone (after a space, bracket or quote), so a URL,
# whose path segments follow "/" or ".", is never touched.
_SLASH_SPACE = re.compile(r"(?<![^\s(\['\"‘“])([^\W\d_]+)/ (?=[^\W\d_])")


class EssayFormatError(ValueError):
    """The source or its corrections do not fit together; the message says where."""


@dataclass(frozen=True)
class Block:
    """One unit of the essay's body: a paragraph, a quotation, a list or a table."""

    id: str
    section: str
    kind: str  # paragraph | quote | list | table
    text: str
    footnotes: tuple[int, ...]
    citations: tuple[Citation, ...] = ()
    items: tuple[str, ...] = ()
    introduced_by: str | None = None
    span: tuple[int, int] = (0, 0)

    def cited_between(self, start: int, end: int) -> list[int]:
        """The footnotes cited from ``start`` to ``end`` of the text (a marker may follow the last word)."""
        return list(dict.fromkeys(c.number for c in self.citations if start <= c.offset <= end))


@dataclass(frozen=True)
class Section:
    title: str
    slug: str
    block_ids: tuple[str, ...]


@dataclass
class Essay:
    title: str
    author: str
    citation: str
    sections: list[Section]
    blocks: list[Block]
    footnotes: dict[int, Footnote]
    missing_footnotes: tuple[int, ...] = ()
    _by_id: dict[str, Block] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {block.id: block for block in self.blocks}

    def block(self, block_id: str) -> Block:
        try:
            return self._by_id[block_id]
        except KeyError:
            raise KeyError(f"no block {block_id!r} in the essay") from None

    def has_block(self, block_id: str) -> bool:
        return block_id in self._by_id

    def follower(self, block_id: str) -> Block | None:
        """The quotation, list or table a paragraph ending in ':' introduces, if any."""
        block = self.block(block_id)
        position = self.blocks.index(block)
        if block.kind == "quote" or not block.text.rstrip().endswith(":") or position + 1 == len(self.blocks):
            return None
        following = self.blocks[position + 1]
        if following.section == block.section and following.kind in {"quote", "list", "table"}:
            return following
        return None

    def sources(self, block: Block) -> list[Footnote]:
        """The footnotes a block cites, in the order it cites them."""
        return [self.footnotes[n] for n in block.footnotes if n in self.footnotes]

    @cached_property
    def list_items(self) -> list[tuple[str, str]]:
        """(block id, item) for every numbered list item outside quotations."""
        return [(b.id, item) for b in self.blocks if b.kind == "list" for item in b.items]


@dataclass
class _Chunk:
    kind: str  # paragraph | list | table
    lines: list[str]
    start: int
    end: int
    section: str
    quote: bool = False
    parts: list[list[str]] = field(default_factory=list)  # merged quotation paragraphs

    @property
    def last(self) -> str:
        return self.lines[-1]


@dataclass(frozen=True)
class Corrections:
    replace: tuple[tuple[str, str], ...]
    quotes: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> Corrections:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(
            tuple((r["find"], r["replace"]) for r in data.get("replace", [])),
            tuple(data.get("quotes", [])),
        )


def _is_heading(line: str) -> bool:
    words = line.split()
    if not 2 <= len(words) <= 6 or len(line) > 60 or line[-1] in ".:;,":
        return False
    if not line[0].isupper() or "\t" in line:
        return False
    return all(w[0].isupper() for w in words if len(w) > 3)


def _slug(title: str) -> str:
    words = re.findall(r"[a-z]+", title.lower())
    return "-".join(w for w in words if w not in _SLUG_STOPWORDS)


def _ends_sentence(text: str) -> bool:
    text = _TRAILING_MARKER.sub("", text.rstrip()).rstrip()
    while text and text[-1] in _CLOSERS:
        text = text[:-1]
    return bool(text) and text[-1] in _SENTENCE_END


def _continues(previous: str, following: str) -> bool:
    """Whether ``following`` carries on the sentence that ``previous`` left unfinished."""
    if _ends_sentence(previous):
        return False
    first = following.lstrip("> ")[:1]
    last_word = re.findall(r"[\w'-]+$", previous.rstrip())
    return (
        first.islower()
        or first.isdigit()
        or previous.endswith("-")
        or bool(last_word and last_word[0].isalpha() and last_word[0].islower())
    )


def _join(previous: str, following: str) -> str:
    following = following.strip()
    if previous.endswith("-"):
        return previous[:-1] + following if following[:1].islower() else previous + following
    return previous.rstrip() + " " + following


def _apply_corrections(lines: list[str], corrections: Corrections) -> list[str]:
    lines = list(lines)
    for find, replace in corrections.replace:
        hits = [i for i, line in enumerate(lines) if find in line]
        count = sum(line.count(find) for line in lines)
        if count != 1:
            raise EssayFormatError(
                f"correction {find!r} matches {count} times in the source (expected once): "
                "fix knowledge/corrections.yml"
            )
        lines[hits[0]] = lines[hits[0]].replace(find, replace)
    return lines


def _chunks(
    raw: str, corrections: Corrections, front_matter: set[str]
) -> tuple[list[_Chunk], list[Footnote], list[tuple[str, str]]]:
    raw_lines = raw.split("\n")
    offsets = []
    position = 0
    for line in raw_lines:
        offsets.append(position)
        position += len(line) + 1
    lines = _apply_corrections(raw_lines, corrections)

    chunks: list[_Chunk] = []
    footnotes: list[Footnote] = []
    sections: list[tuple[str, str]] = []
    section = ""
    in_table = False
    previous_blank = True
    for number, line in enumerate(lines):
        stripped = line.strip()
        start, end = offsets[number], offsets[number] + len(raw_lines[number])
        if not stripped:
            previous_blank = True
            continue
        blank_before, previous_blank = previous_blank, False
        if in_table and ("\t" in line or set(stripped) <= set("-\t ")):
            chunks[-1].lines.append(line)
            chunks[-1].end = end
            continue
        in_table = False
        if stripped in front_matter and not sections:
            continue
        if footnote_start(stripped):
            footnotes.extend(split_footnote_line(stripped, start))
            continue
        if _is_heading(stripped):
            section = stripped
            sections.append((stripped, _slug(stripped)))
            continue
        if _TABLE_START.match(stripped):
            chunks.append(_Chunk("table", [stripped], start, end, section))
            in_table = True
            continue
        item = _LIST_ITEM.match(stripped)
        if item and chunks and chunks[-1].kind == "list" and not blank_before:
            chunks[-1].lines.append(stripped)
            chunks[-1].end = end
            continue
        kind = "list" if item else "paragraph"
        previous = next((c for c in reversed(chunks) if c.section == section), None)
        if previous and previous.kind != "table" and _continues(previous.last, stripped):
            previous.lines[-1] = _join(previous.last, stripped)
            previous.end = end
            continue
        chunks.append(_Chunk(kind, [stripped], start, end, section))
    return chunks, footnotes, sections


def _opening(chunk: _Chunk) -> str:
    return _LIST_ITEM.sub("", chunk.lines[0].lstrip("> ").strip(), count=1)


def _merge_quotes(chunks: list[_Chunk], quote_openings: tuple[str, ...]) -> list[_Chunk]:
    """Mark quotations, and merge runs of quoted paragraphs that form one quotation.

    A quotation ends at a paragraph that closes with a footnote marker: the next quoted
    paragraph is then a new quotation.
    """
    unused = set(quote_openings)
    merged: list[_Chunk] = []
    for chunk in chunks:
        opening = _opening(chunk)
        matched = [q for q in quote_openings if opening.startswith(q)]
        unused.difference_update(matched)
        chunk.quote = chunk.lines[0].startswith(">") or bool(matched)
        chunk.parts = [chunk.lines]
        previous = merged[-1] if merged else None
        if (
            chunk.quote
            and chunk.kind == "paragraph"
            and previous is not None
            and previous.quote
            and previous.kind == "paragraph"
            and previous.section == chunk.section
            and not _TRAILING_MARKER.search(previous.parts[-1][-1])
        ):
            previous.parts.append(chunk.lines)
            previous.end = chunk.end
            continue
        merged.append(chunk)
    if unused:
        raise EssayFormatError(
            f"quotation openings in corrections.yml not found in the source: {sorted(unused)}"
        )
    return merged


def _tidy(text: str) -> str:
    text = text.replace("**", "")
    text = _EMPHASIS.sub(r"\1", text)
    text = _SLASH_SPACE.sub(r"\1/", text)
    text = re.sub(r"^>\s*", "", text)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" +([;,])", r"\1", text)
    return text.strip()


def _table_text(lines: list[str]) -> tuple[str, list[list[str]]]:
    title = lines[0]
    rows = [
        [cell.strip() for cell in line.split("\t")]
        for line in lines[1:]
        if not set(line.strip()) <= set("-\t ")
    ]
    first_data = next((i for i, row in enumerate(rows) if row and row[0][:1].isdigit()), len(rows))
    header_rows, data = rows[:first_data], rows[first_data:]
    width = max(len(row) for row in rows)
    header = [
        " ".join(row[i] for row in header_rows if i < len(row) and row[i]).strip()
        for i in range(width)
    ]
    table = [header, *data]
    return "\n".join([title, *(" | ".join(row) for row in table)]), table


def _block(chunk: _Chunk, block_id: str, introduced_by: str | None) -> Block:
    items: tuple[str, ...] = ()
    if chunk.kind == "table":
        raw, _ = _table_text(chunk.lines)
        kind = "table"
    elif chunk.kind == "list":
        numbered = [(_LIST_ITEM.match(line), line) for line in chunk.lines]
        raw = "\n".join(f"{m.group(1)}. {line[m.end():]}" for m, line in numbered if m)
        kind = "quote" if chunk.quote else "list"
    else:
        raw = "\n\n".join(" ".join(part) for part in chunk.parts)
        kind = "quote" if chunk.quote else "paragraph"
    tidy = "\n".join(_tidy(line) for line in raw.split("\n"))
    text, citations = strip_markers(tidy)
    if chunk.kind == "list":
        items = tuple(re.sub(r"^\d+\.\s+", "", line) for line in text.split("\n"))
    numbers = tuple(dict.fromkeys(c.number for c in citations))
    return Block(
        id=block_id,
        section=chunk.section,
        kind=kind,
        text=text,
        footnotes=numbers,
        citations=tuple(citations),
        items=items,
        introduced_by=introduced_by if kind == "quote" else None,
        span=(chunk.start, chunk.end),
    )


def parse_essay(
    raw: str,
    corrections: Corrections,
    *,
    title: str = "",
    author: str = "",
    citation: str = "",
) -> Essay:
    """Parse the raw extraction into an :class:`Essay`."""
    front = {title, author} - {""}
    chunks, notes, sections = _chunks(raw, corrections, front)
    chunks = _merge_quotes(chunks, corrections.quotes)

    slugs = dict(sections)
    counters: dict[str, int] = {}
    blocks: list[Block] = []
    last_own: dict[str, str] = {}
    for chunk in chunks:
        slug = slugs.get(chunk.section, "front")
        counters[slug] = counters.get(slug, 0) + 1
        block_id = f"{slug}-{counters[slug]:02d}"
        block = _block(chunk, block_id, last_own.get(chunk.section))
        if block.kind != "quote":
            last_own[chunk.section] = block_id
        blocks.append(block)

    footnotes: dict[int, Footnote] = {}
    for note in notes:
        if note.number in footnotes:
            raise EssayFormatError(f"footnote {note.number} appears twice in the source")
        footnotes[note.number] = note
    cited = {n for b in blocks for n in b.footnotes}
    highest = max([*footnotes, *cited], default=0)
    missing = tuple(n for n in range(1, highest + 1) if n not in footnotes)
    for number in missing:
        footnotes[number] = Footnote(number, "", None, None, missing=True)

    section_list = [
        Section(t, s, tuple(b.id for b in blocks if b.section == t)) for t, s in sections
    ]
    return Essay(title, author, citation, section_list, blocks, dict(sorted(footnotes.items())), missing)


def load_essay(knowledge_dir: Path = KNOWLEDGE_DIR) -> Essay:
    """The essay described by ``knowledge/essay.yml``."""
    meta = yaml.safe_load((knowledge_dir / "essay.yml").read_text(encoding="utf-8"))
    raw = (knowledge_dir / meta["source"]).read_text(encoding="utf-8")
    corrections = Corrections.load(knowledge_dir / meta.get("corrections", "corrections.yml"))
    return parse_essay(
        raw,
        corrections,
        title=meta.get("title", ""),
        author=meta.get("author", ""),
        citation=meta.get("citation", ""),
    )
