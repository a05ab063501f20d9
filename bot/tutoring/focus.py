"""Focused answers: the one to three sentences of a passage that carry the answer.

For a claim, each sentence of the passage is judged against each of the claim's key points by
the trained matcher (on a cosine shortlist); the lead is the key point the passage makes that is
closest to what the student said, and the quote is the sentences that make it. For a question,
sentences are ranked by closeness to the question and by the question's own words. Nothing here
knows the essay: passages and key points are passed in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.tutoring.kept import judge_fingerprint, judge_identity, read_kept, write_kept
from bot.tutoring.quoting import join_quote, sentences, words

__all__ = ["Focus", "Focuser", "salient_terms", "units_of"]

TARGET_WORDS = 50
MAX_WORDS = 150
MAX_SENTENCES = 3
SHORT_SENTENCE = 15
SHORTLIST = 3
TERM_WEIGHT = 0.15
_STOP = frozenset({
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as", "is",
    "was", "were", "be", "been", "are", "am", "do", "did", "does", "done", "what", "who", "whom", "whose",
    "which", "when", "where", "why", "how", "that", "this", "these", "those", "it", "its", "he", "she", "they",
    "them", "his", "her", "their", "there", "here", "about", "into", "over", "under", "than", "then", "so", "not",
    "no", "yes", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "have", "has", "had",
    "i", "you", "we", "me", "my", "your", "our", "us", "tell", "say", "says", "said", "explain", "essay",
    "author", "mean", "means", "meant", "please", "know", "think", "much", "many", "more", "most", "any", "some",
    "all"
})
_TERM = re.compile(r"[^\W\d_][\w'’-]*")


def salient_terms(text: str) -> set[str]:
    """The words of a question worth finding in a passage: not function words, at least 3 letters."""
    return {t.lower().strip("'’") for t in _TERM.findall(text or "") if len(t) >= 3 and t.lower() not in _STOP}


def units_of(text: str, kind: str) -> list[str]:
    if kind == "list":
        return [line for line in text.split("\n") if line.strip()]
    return sentences(text, kind)


@dataclass(frozen=True)
class Focus:
    lead: str | None
    """The key point the quoted sentences make, when one does."""
    lead_id: str | None
    quote: str
    chosen: tuple[int, ...]
    units: int
    strength: float = 0.0
    """How well the quote answers: the judge's score for the lead plus its closeness to the student's words."""

    @property
    def words(self) -> int:
        return words(self.quote)

    @property
    def whole(self) -> bool:
        return len(self.chosen) == self.units


class Focuser:
    """Chooses sentences with an encoder (cosines) and, when given, a judge (does it make the point?)."""

    def __init__(self, encoder, judge=None, threshold: float = 0.5) -> None:
        self.encoder = encoder
        self.judge = judge
        self.threshold = threshold
        self._vectors: dict[str, np.ndarray] = {}
        self._points: dict[str, np.ndarray] = {}
        self._support: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        self._kept: dict[str, np.ndarray] = {}
        self._pairs: dict[tuple[str, str], float] = {}
        self._fresh = 0
        self._lock = threading.Lock()

    def _unit_vectors(self, text: str, units: list[str]) -> np.ndarray:
        if text not in self._vectors:
            vectors = self.encoder.encode(units)
            with self._lock:
                self._vectors[text] = vectors
        return self._vectors[text]

    def prepare(self, passages: Iterable[tuple[str, str]]) -> int:
        """Embed the sentences of every passage (text, kind) not embedded yet, in one batch; returns how many.

        Done at start: otherwise the first question or "tell me more" to reach a passage pays for
        embedding its sentences (about 100 ms for a long one), and a long conversation reaches
        new passages in every play.
        """
        missing = {text: units_of(text, kind) for text, kind in passages if text not in self._vectors}
        missing = {text: units for text, units in missing.items() if units}
        if not missing:
            return 0
        vectors = self.encoder.encode([unit for units in missing.values() for unit in units])
        start = 0
        with self._lock:
            for text, units in missing.items():
                self._vectors[text] = vectors[start:start + len(units)]
                start += len(units)
        return len(missing)

    def _point_vectors(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._points]
        if missing:
            vectors = self.encoder.encode(missing)
            with self._lock:
                self._points.update(zip(missing, vectors, strict=True))
        return np.stack([self._points[t] for t in texts])

    def _query_vector(self, query: str) -> np.ndarray:
        encode_one = getattr(self.encoder, "encode_one", None)
        return encode_one(query) if encode_one else self.encoder.encode([query])[0]

    def support(self, text: str, kind: str, points: Sequence[str]) -> np.ndarray:
        """How well each unit makes each point (units x points), computed once per passage and points."""
        key = (text, tuple(points))
        if key in self._support:
            return self._support[key]
        units = units_of(text, kind)
        kept = self._fitting(text, points, len(units))
        if kept is not None:
            with self._lock:
                self._support[key] = kept
            return kept
        cosines = np.clip(self._unit_vectors(text, units) @ self._point_vectors(list(points)).T, 0.0, 1.0)
        if self.judge is None:
            matrix = cosines
        else:
            matrix = np.zeros_like(cosines, dtype=np.float32)
            cells = [(int(i), j) for j in range(len(points))
                     for i in np.argsort(-cosines[:, j], kind="stable")[:SHORTLIST]]
            pairs = [(units[i], points[j]) for i, j in cells]
            for (i, j), score in zip(cells, self.judged(pairs), strict=True):
                matrix[i, j] = score
        with self._lock:
            self._support[key] = matrix
            self._fresh += 1
        return matrix

    def judged(self, pairs: list[tuple[str, str]]) -> list[float]:
        """The judge's score for each (essay text, key point) pair; each pair is judged once.

        The texts are the essay's own sentences and quotations, so the pairs are few and come back
        for every student who reaches the same passage.
        """
        unjudged = [p for p in dict.fromkeys(pairs) if p not in self._pairs]
        if unjudged:
            scores = self.judge.score(unjudged)
            with self._lock:
                self._pairs.update(zip(unjudged, (float(s) for s in scores), strict=True))
        return [self._pairs[pair] for pair in pairs]

    @staticmethod
    def _entry_key(text: str, points: tuple[str, ...]) -> str:
        return hashlib.sha256(json.dumps([text, list(points)]).encode()).hexdigest()

    def load(self, path: Path | None, shipped: bool = False) -> int:
        """Support matrices kept by ``save`` for the same judge and shortlist; how many were read.

        Choosing a passage's sentences runs the judge over them (a few hundred ms the first time a
        passage is shown for a claim); kept on disk, a restart does not pay it again. A ``shipped``
        table (``save(..., shipped=True)``) is read for the same weights at any precision: it is
        what a fresh clone starts from.
        """
        record = read_kept(path)
        wanted = judge_identity(self.judge) if shipped else judge_fingerprint(self.judge)
        if record is None or record.get("judge") != wanted or record.get("shortlist") != SHORTLIST:
            return 0
        try:
            kept = {key: np.asarray(matrix, dtype=np.float32) for key, matrix in record["support"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            logging.getLogger(__name__).warning("unreadable %s: passages are judged again", path)
            return 0
        with self._lock:
            self._kept.update(kept)
        return len(kept)

    def kept(self, text: str, kind: str, points: Sequence[str]) -> np.ndarray | None:
        """The kept matrix for this passage and points, if it has one row per unit and one column per point."""
        return self._fitting(text, points, len(units_of(text, kind)))

    def _fitting(self, text: str, points: Sequence[str], units: int) -> np.ndarray | None:
        kept = self._kept.get(self._entry_key(text, tuple(points)))
        return kept if kept is not None and kept.shape == (units, len(points)) else None

    @property
    def supported(self) -> int:
        """How many support matrices this focuser holds (computed or read)."""
        return len(self._support)

    @property
    def fresh(self) -> int:
        """How many support matrices were computed here rather than read from a kept file."""
        return self._fresh

    def save(self, path: Path | None, shipped: bool = False) -> None:
        """Every support matrix computed or used so far, for the next start (written atomically);
        ``shipped`` keys it by the judge's weights alone, for ``load(..., shipped=True)``."""
        if path is None:
            return
        with self._lock:
            support = {self._entry_key(text, points): matrix.round(5).tolist()
                       for (text, points), matrix in self._support.items()}
        judge = judge_identity(self.judge) if shipped else judge_fingerprint(self.judge)
        record = {"judge": judge, "shortlist": SHORTLIST, "support": dict(sorted(support.items()))}
        if shipped:
            record["precision"] = getattr(self.judge, "precision", None)
        write_kept(path, record)

    def for_points(self, text: str, kind: str, points: dict[str, str], query: str | None) -> Focus:
        """The key point this passage makes that is nearest the student's words, and its sentences."""
        units = units_of(text, kind)
        if not units:
            return Focus(None, None, text, (), 0)
        ids, texts = list(points), list(points.values())
        if not ids:
            return self.for_question(text, kind, query or "")
        matrix = self.support(text, kind, texts)
        best = matrix.max(axis=0)
        relevance = np.zeros(len(ids))
        if query:
            relevance = self._query_vector(query) @ self._point_vectors(texts).T
        made = [j for j in range(len(ids)) if best[j] >= self.threshold]
        point = max(made, key=lambda j: best[j] + relevance[j]) if made else int(np.argmax(best))
        column = matrix[:, point]
        chosen = self._grow(units, column, [int(np.argmax(column))], self.threshold)
        lead = (texts[point], ids[point]) if best[point] >= self.threshold else (None, None)
        strength = float(best[point] + relevance[point])
        return Focus(lead[0], lead[1], join_quote(units, chosen), tuple(chosen), len(units), strength)

    def for_question(self, text: str, kind: str, query: str) -> Focus:
        """The sentences of a passage nearest a question, weighted by the question's own words."""
        units = units_of(text, kind)
        if not units:
            return Focus(None, None, text, (), 0)
        cosines = self._unit_vectors(text, units) @ self._query_vector(query or "")
        terms = salient_terms(query)
        bonus = np.array([TERM_WEIGHT * len(terms & salient_terms(u)) for u in units])
        score = cosines + bonus
        first = int(np.argmax(score))
        chosen = self._grow(units, score, [first], float(score[first]) * 0.8)
        return Focus(None, None, join_quote(units, chosen), tuple(chosen), len(units))

    def _grow(self, units: list[str], score: np.ndarray, chosen: list[int], floor: float) -> list[int]:
        """Add the next-best sentences that also carry the point, then context for a very short one,
        while the quote stays within ``TARGET_WORDS``; never past ``MAX_WORDS``."""
        if words(units[chosen[0]]) > MAX_WORDS:
            fitting = [i for i in np.argsort(-score, kind="stable") if words(units[i]) <= MAX_WORDS]
            chosen = [int(fitting[0])] if fitting else chosen
        total = sum(words(units[i]) for i in chosen)
        for i in np.argsort(-score, kind="stable"):
            i = int(i)
            if len(chosen) == MAX_SENTENCES or score[i] < floor:
                break
            if i not in chosen and total + words(units[i]) <= TARGET_WORDS:
                chosen.append(i)
                total += words(units[i])
        if len(chosen) == 1 and words(units[chosen[0]]) < SHORT_SENTENCE:
            for neighbour in (chosen[0] + 1, chosen[0] - 1):
                if 0 <= neighbour < len(units) and total + words(units[neighbour]) <= TARGET_WORDS:
                    chosen.append(neighbour)
                    break
        return sorted(chosen)
