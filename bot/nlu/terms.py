"""Find the knowledge file's terms in free text: phrases, prefixes and co-occurring cues.

A term is a phrase matched on lower-cased spaCy tokens; a word ending in ``*`` matches any
token it begins ("chek*" finds "chekists"). A cue is a list of word groups that must all
occur in the message (a verb group and a noun group, say), for phrasings no fixed phrase foresees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import spacy
from spacy.matcher import Matcher
from spacy.util import filter_spans

_WORD = re.compile(r"[\w'’-]+")


@dataclass(frozen=True)
class TermMatch:
    value: str
    start: int
    end: int


def _word_matches(word: str, entry: str) -> bool:
    return word.startswith(entry[:-1]) if entry.endswith("*") else word == entry


class TermMatcher:
    """Maps terms and cues found in a text to their values; longest term match wins."""

    def __init__(
        self,
        terms: Mapping[str, Iterable[str]],
        cues: Mapping[str, Iterable[Sequence[Sequence[str]]]] | None = None,
    ) -> None:
        self.values = set(terms) | set(cues or {})
        self._nlp = spacy.blank("en")
        self._matcher = Matcher(self._nlp.vocab)
        self._lookup: dict[str, str] = {}
        for value, phrases in terms.items():
            patterns = [self._pattern(phrase) for phrase in phrases]
            if patterns:
                self._matcher.add(value, patterns)
            for phrase in phrases:
                self._lookup[" ".join(phrase.lower().split())] = value
        self._cues = {
            value: [[[w.lower() for w in group] for group in cue] for cue in value_cues]
            for value, value_cues in (cues or {}).items()
        }

    def _pattern(self, phrase: str) -> list[dict]:
        pattern: list[dict] = []
        for word in phrase.lower().split():
            if word.endswith("*") and len(word) > 1:
                pattern.append({"LOWER": {"REGEX": f"^{re.escape(word[:-1])}"}})
            else:
                pattern.extend({"LOWER": token.text} for token in self._nlp.make_doc(word))
        return pattern

    def _cue_matches(self, text: str, skip: set[str]) -> list[TermMatch]:
        words = [(m.group(0).lower(), m.start(), m.end()) for m in _WORD.finditer(text)]
        found = []
        for value, value_cues in self._cues.items():
            if value in skip:
                continue
            for cue in value_cues:
                spans = []
                for group in cue:
                    hit = next(((s, e) for w, s, e in words if any(_word_matches(w, g) for g in group)), None)
                    if hit is None:
                        break
                    spans.append(hit)
                else:
                    found.append(TermMatch(value, min(s for s, _ in spans), max(e for _, e in spans)))
                    break
        return found

    def find(self, text: str) -> list[TermMatch]:
        doc = self._nlp.make_doc(text)
        spans = filter_spans(self._matcher(doc, as_spans=True))
        found = [TermMatch(span.label_, span.start_char, span.end_char) for span in spans]
        found += self._cue_matches(text, {m.value for m in found})
        taken: list[TermMatch] = []
        for match in sorted(found, key=lambda m: (m.start, -(m.end - m.start))):
            if not any(t.start < match.end and match.start < t.end for t in taken):
                taken.append(match)
        return taken

    def value_of(self, phrase: str) -> str | None:
        """The value of a phrase that is itself a term, or that holds exactly one match."""
        direct = self._lookup.get(" ".join(phrase.lower().split()))
        if direct:
            return direct
        values = {m.value for m in self.find(phrase)}
        return values.pop() if len(values) == 1 else None
