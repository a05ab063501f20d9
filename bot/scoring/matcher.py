"""Which key points a student's answer makes: sentence embeddings against key point texts.

A key point's score for an answer is the best cosine similarity between the key point's
text and any unit of the answer (a sentence, or two adjacent sentences read together, since a
point is often made across a sentence break), clipped to [0, 1]: MiniLM cosines below 0 mean
"unrelated" just as 0 does, and no unit can be more than identical. A point is made when its
score reaches a threshold calibrated on labelled answers (``python -m bot calibrate``).

Nothing here knows the debate: key points and essay passages are passed in, so a second
essay's claims file is scored by the same code.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import yaml

from bot.settings import KNOWLEDGE_DIR

SCORING_FILE = KNOWLEDGE_DIR / "scoring.yml"
DEFAULT_THRESHOLD = 0.64
OFF_TOPIC_FLOOR = 0.2
DEFAULT_SHORTLIST = 3
MAX_WORDS = 600
LONG_SENTENCE = 40
CHUNK_WORDS = 30
WINDOW_WORDS = 50
WHOLE_WORDS = 160
COPY_NGRAM = 6
COPY_MIN_WORDS = 8
COPY_CONTAINMENT = 0.6
COPY_SHARE = 0.5

_ABBREVIATIONS = {"e.g", "i.e", "vs", "cf", "mr", "mrs", "ms", "dr", "st", "vol", "pp", "approx"}
_BULLET = re.compile(r"^\s*(?:[-*•·–—>]+|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+")
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)")
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


class SentenceEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class PairJudge(Protocol):
    """Reads a text and a key point together: the probability that the text makes the point."""

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray: ...


def _lines(text: str) -> list[str]:
    """Non-empty lines without their bullets: in a chat box a line break ends a thought."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        bullet = _BULLET.match(line)
        out.append(line[bullet.end():].strip() if bullet else line)
    return [line for line in out if line]


def _split_line(line: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for mark in _BOUNDARY.finditer(line):
        before = line[start:mark.start()].split()
        last = before[-1].lower().rstrip(".") if before else ""
        if mark.group(0).startswith(".") and (last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())):
            continue
        pieces.append(line[start:mark.end()].strip())
        start = mark.end()
    pieces.append(line[start:].strip())
    return [p for p in pieces if _LETTER.search(p)]


def _chunks(sentence: str) -> list[str]:
    """A run-on sentence as overlapping word windows: one embedding of 100 words blurs every point in it."""
    words = sentence.split()
    if len(words) <= LONG_SENTENCE:
        return [sentence]
    step = CHUNK_WORDS // 2
    starts = range(0, max(1, len(words) - CHUNK_WORDS + step), step)
    return [" ".join(words[s:s + CHUNK_WORDS]) for s in starts]


def split_sentences(text: str | None) -> list[str]:
    """The answer's sentences in order, for texts with or without punctuation, bullets or line breaks.

    Only the first ``MAX_WORDS`` words are read, so a pasted book costs no more than an essay.
    """
    if not text:
        return []
    cut = next(itertools.islice(re.finditer(r"\S+", text), MAX_WORDS, None), None)
    if cut:
        text = text[:cut.start()]
    return [chunk for line in _lines(text) for sentence in _split_line(line) for chunk in _chunks(sentence)]


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.translate(_QUOTES).lower())


def _ngrams(tokens: list[str], n: int = COPY_NGRAM) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


@dataclass(frozen=True)
class _Source:
    grams: frozenset[tuple[str, ...]]
    joined: str


def _source(text: str) -> _Source:
    tokens = _tokens(text)
    return _Source(frozenset(_ngrams(tokens)), f" {' '.join(tokens)} ")


def copied_from(sentence: str, passages: Mapping[str, _Source], in_paste: bool = False) -> str | None:
    """The passage a sentence was copied from, if any.

    A sentence of ``COPY_MIN_WORDS`` words or more is a copy when most of its word 6-grams occur
    in one passage: a short quotation inside the student's own sentence leaves most of them
    unmatched. A shorter sentence is allowed as a quotation, unless it sits in a pasted run
    (``in_paste``) and occurs in the passage word for word.
    """
    tokens = _tokens(sentence)
    if len(tokens) < COPY_MIN_WORDS:
        if not in_paste or not tokens:
            return None
        joined = f" {' '.join(tokens)} "
        return next((pid for pid, source in passages.items() if joined in source.joined), None)
    grams = _ngrams(tokens)
    best, best_share = None, 0.0
    for passage_id, source in passages.items():
        share = len(grams & source.grams) / len(grams)
        if share > best_share:
            best, best_share = passage_id, share
    return best if best_share >= COPY_CONTAINMENT else None


def units(sentences: list[str]) -> list[str]:
    """What is compared with a key point: each sentence, then each pair of adjacent sentences.

    A pair longer than ``WINDOW_WORDS`` is left out: its embedding blurs both halves, and
    the chunks of a run-on sentence already overlap.
    """
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(sentences)]
    return sentences + [p for p in pairs if len(p.split()) <= WINDOW_WORDS]


@dataclass(frozen=True)
class PointResult:
    id: str
    score: float
    made: bool
    sentence: str | None
    """The student's sentence (or two adjacent sentences) closest to the point; None if nothing was read."""


@dataclass(frozen=True)
class Assessment:
    points: dict[str, PointResult]
    threshold: float
    sentences: tuple[str, ...] = ()
    copied_sentences: tuple[str, ...] = ()
    copied_from: tuple[str, ...] = ()
    copied: bool = False
    empty: bool = False
    off_topic: bool = False
    relevance: float = 0.0
    """The best similarity of any of the student's own sentences to any key point."""

    @property
    def made(self) -> list[PointResult]:
        return [p for p in self.points.values() if p.made]

    @property
    def missed(self) -> list[PointResult]:
        return [p for p in self.points.values() if not p.made]

    @property
    def score(self) -> int:
        return len(self.made)

    @property
    def total(self) -> int:
        return len(self.points)

    @property
    def nearest_miss(self) -> PointResult | None:
        """The missed point the answer came closest to: the one a suggestion should push towards."""
        return max(self.missed, key=lambda p: p.score, default=None)


@dataclass(frozen=True)
class Scoring:
    """The calibrated settings the tutor reads at run time (``knowledge/scoring.yml``).

    The defaults are the last calibrated values, so a missing file changes nothing.
    """

    threshold: float = DEFAULT_THRESHOLD
    off_topic_floor: float = OFF_TOPIC_FLOOR
    record: dict = field(default_factory=dict)
    shortlist: int | None = DEFAULT_SHORTLIST
    group_thresholds: Mapping[str, float] = field(default_factory=dict)
    """Students' answers to a position of this group are judged at this threshold, not ``threshold``."""
    passage_threshold: float | None = None
    """Which of the essay's sentences make a key point; ``threshold`` when not set."""

    def threshold_for(self, group: str | None) -> float:
        """The threshold for a student's answer to a position of ``group``."""
        return self.group_thresholds.get(group or "", self.threshold)

    @property
    def for_passages(self) -> float:
        return self.threshold if self.passage_threshold is None else self.passage_threshold


def load_scoring(path: Path = SCORING_FILE) -> Scoring:
    if not path.exists():
        return Scoring()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    shortlist = data.get("shortlist", DEFAULT_SHORTLIST)
    passage = data.get("passage_threshold")
    return Scoring(
        float(data.get("threshold", DEFAULT_THRESHOLD)),
        float(data.get("off_topic_floor", OFF_TOPIC_FLOOR)),
        data,
        None if shortlist is None else int(shortlist),
        {str(g): float(t) for g, t in (data.get("group_thresholds") or {}).items()},
        None if passage is None else float(passage),
    )


def judged_cells(cosines: np.ndarray, shortlist: int | None, always: Sequence[int] = ()) -> list[tuple[int, int]]:
    """The (unit, key point) cells a judge reads: each point's ``shortlist`` units closest by cosine, and ``always``.

    The shortlist keeps a long answer's cost at ``shortlist`` pairs per key point; None reads every
    unit. 0 reads only ``always`` (the whole answer); an answer with no whole reading (one sentence,
    or too long to read whole) then gets the default shortlist, so no point goes unread.
    """
    units_, points = cosines.shape
    if shortlist == 0 and not always:
        shortlist = DEFAULT_SHORTLIST
    k = units_ if shortlist is None else min(shortlist, units_)
    cells = []
    for j in range(points):
        rows = range(units_) if k == units_ else np.argsort(-cosines[:, j], kind="stable")[:k]
        cells.extend((int(i), j) for i in dict.fromkeys([*map(int, rows), *always]))
    return cells


@dataclass(frozen=True)
class Reading:
    """An answer as the matcher reads it: its sentences, those copied from the essay, and the units compared."""

    sentences: list[str]
    copies: dict[str, str]
    own: list[str]
    units: list[str]
    whole: bool
    """The last unit is the whole answer (read besides its sentences and pairs)."""


class Matcher:
    """Scores answers against key points with an injected encoder; key point vectors are cached."""

    def __init__(
        self,
        encoder: SentenceEncoder,
        scoring: Scoring | None = None,
        windows: bool = True,
        judge: PairJudge | None = None,
        shortlist: int | None = None,
        whole_text: bool = False,
    ) -> None:
        self.encoder = encoder
        self.whole_text = whole_text
        """Also read a short text whole (besides its sentences and pairs) when scoring it."""
        self.windows = windows
        self.judge = judge
        self.shortlist = shortlist
        """With a judge: how many units, closest by cosine, it reads per key point (None: all)."""
        self._scoring = scoring
        self._points: dict[str, np.ndarray] = {}
        self._sources: dict[str, _Source] = {}
        self._lock = threading.Lock()

    @property
    def scoring(self) -> Scoring:
        if self._scoring is None:
            self._scoring = load_scoring()
        return self._scoring

    def _point_vectors(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._points))
        if missing:
            vectors = self.encoder.encode(missing)
            with self._lock:
                self._points.update(zip(missing, vectors, strict=True))
        return np.stack([self._points[t] for t in texts])

    def _passage_sources(self, passages: Mapping[str, str] | Sequence[str]) -> dict[str, _Source]:
        items = passages.items() if isinstance(passages, Mapping) else ((str(i), p) for i, p in enumerate(passages))
        out = {}
        for passage_id, text in items:
            if text not in self._sources:
                with self._lock:
                    self._sources[text] = _source(text)
            out[passage_id] = self._sources[text]
        return out

    def units(self, sentences: list[str]) -> list[str]:
        """Sentences, adjacent pairs, and (``whole_text``) the whole answer when it is not too long."""
        read = units(sentences) if self.windows else list(sentences)
        if self.whole_text and len(sentences) > 1 and len(" ".join(sentences).split()) <= WHOLE_WORDS:
            read.append(" ".join(sentences))
        return read

    def cosines(self, read: list[str], key_points: Mapping[str, str]) -> np.ndarray:
        """Clipped cosine of each unit with each key point (units x points)."""
        if not read or not key_points:
            return np.zeros((len(read), len(key_points)), dtype=np.float32)
        position = {u: i for i, u in enumerate(dict.fromkeys(read))}
        encode = getattr(self.encoder, "encode_cached", self.encoder.encode)  # the student's sentences may be known
        vectors = encode(list(position))[[position[u] for u in read]]
        matrix = vectors @ self._point_vectors(list(key_points.values())).T
        return np.clip(matrix, 0.0, 1.0)

    def judged(
        self, read: list[str], key_points: Mapping[str, str], cosines: np.ndarray, always: Sequence[int] = ()
    ) -> np.ndarray:
        """The judge's probabilities (units x points) for the cells ``judged_cells`` picks; 0 for the rest."""
        out = np.zeros_like(cosines, dtype=np.float32)
        if not read or not key_points:
            return out
        texts = list(key_points.values())
        cells = judged_cells(cosines, self.shortlist, always)
        unique = list(dict.fromkeys((read[i], texts[j]) for i, j in cells))
        scores = dict(zip(unique, self.judge.score(unique), strict=True))
        for i, j in cells:
            out[i, j] = scores[(read[i], texts[j])]
        return out

    def similarities(self, sentences: list[str], key_points: Mapping[str, str]) -> tuple[list[str], np.ndarray]:
        """The units read from the sentences and their scores against each key point (units x points)."""
        read = self.units(sentences)
        matrix = self.cosines(read, key_points)
        if self.judge is not None:
            matrix = self.judged(read, key_points, matrix)
        return read, matrix

    def score(self, text: str | None, key_points: Mapping[str, str]) -> dict[str, float]:
        """Each key point's score in [0, 1]: its best score with any sentence or sentence pair
        (the judge's probability, or without a judge the clipped cosine)."""
        read, matrix = self.similarities(split_sentences(text), key_points)
        if not read:
            return dict.fromkeys(key_points, 0.0)
        return {kp: float(matrix[:, j].max()) for j, kp in enumerate(key_points)}

    def copies(self, sentences: list[str], essay_passages: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
        """Each sentence copied from a passage, with that passage's id (or index)."""
        sources = self._passage_sources(essay_passages)
        if not sources:
            return {}
        found = {s: pid for s in sentences if (pid := copied_from(s, sources))}
        if found:
            found.update({s: pid for s in sentences if s not in found and (pid := copied_from(s, sources, True))})
        return found

    def read(self, text: str | None, essay_passages: Mapping[str, str] | Sequence[str] = ()) -> Reading:
        """The answer's sentences, the ones copied from ``essay_passages``, and the units its own are read as."""
        sentences = split_sentences(text)
        copies = self.copies(sentences, essay_passages)
        own = [s for s in sentences if s not in copies]
        read = self.units(own)
        whole = self.whole_text and len(own) > 1 and bool(read) and read[-1] == " ".join(own)
        return Reading(sentences, copies, own, read, whole)

    def assess(
        self,
        text: str | None,
        key_points: Mapping[str, str],
        threshold: float | None = None,
        essay_passages: Mapping[str, str] | Sequence[str] = (),
        off_topic_floor: float | None = None,
    ) -> Assessment:
        """Which key points the answer makes in its own words; settings default to ``knowledge/scoring.yml``.

        Sentences copied from ``essay_passages`` are left out before matching. An answer none of
        whose own sentences reaches ``off_topic_floor`` against any key point is off topic and
        makes no point, whatever the threshold.
        """
        threshold = self.scoring.threshold if threshold is None else threshold
        floor = self.scoring.off_topic_floor if off_topic_floor is None else off_topic_floor
        reading = self.read(text, essay_passages)
        sentences, copies, own, read = reading.sentences, reading.copies, reading.own, reading.units
        cosines = self.cosines(read, key_points)
        whole = [len(read) - 1] if reading.whole else []
        matrix = cosines if self.judge is None else self.judged(read, key_points, cosines, always=whole)
        # a unit the judge did not read ranks below every unit it did, and among its kind by cosine
        display = matrix if self.judge is None else np.where(matrix > 0, matrix, cosines - 1.0)
        singles = len(own)
        shown_units = len(read) - int(reading.whole)  # the whole answer counts, but a sentence is what is quoted back
        relevance = float(cosines.max()) if cosines.size else 0.0
        off_topic = bool(own) and relevance < floor
        points = {}
        for j, kp in enumerate(key_points):
            if not read:
                points[kp] = PointResult(kp, 0.0, False, None)
                continue
            score = float(matrix[:, j].max())
            shown = display[:shown_units, j]
            best = int(shown.argmax())
            if best >= singles and shown[:singles].max() >= threshold:
                best = int(shown[:singles].argmax())
            points[kp] = PointResult(kp, score, score >= threshold and not off_topic, read[best])
        copied_words = sum(len(_tokens(s)) for s in copies)
        return Assessment(
            points=points,
            threshold=threshold,
            sentences=tuple(sentences),
            copied_sentences=tuple(s for s in sentences if s in copies),
            copied_from=tuple(dict.fromkeys(copies[s] for s in sentences if s in copies)),
            copied=bool(copies) and copied_words >= COPY_SHARE * sum(len(_tokens(s)) for s in sentences),
            empty=not sentences,
            off_topic=off_topic,
            relevance=relevance,
        )


def load_key_points(path: Path) -> dict[str, str]:
    """Key points from YAML: a mapping of id to text, a list of ``{id, text}``, or a whole claims file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and ({"claims", "charges"} & set(data)):
        data = [kp for key in ("claims", "charges") for entry in data.get(key) or [] for kp in entry["key_points"]]
    if isinstance(data, list):
        data = {entry["id"]: entry["text"] for entry in data}
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a mapping of key point ids to texts")
    return {str(kp): " ".join(str(text).split()) for kp, text in data.items()}


def load_texts(path: Path) -> list[tuple[str, str]]:
    """(id, text) of each non-blank JSON line ``{"id": ..., "text": ...}``."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        entry = json.loads(line)
        if not isinstance(entry, dict) or "id" not in entry or "text" not in entry:
            raise ValueError(f"{path}:{number}: expected {{\"id\": ..., \"text\": ...}}")
        out.append((str(entry["id"]), entry["text"] or ""))
    return out
