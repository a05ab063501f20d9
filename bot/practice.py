"""Practice rounds: choose a point to argue, score the student's rebuttal, say what to add.

The scoring itself is the generic matcher's; this module knows which key points and passages
belong to a claim, and lays out the feedback that the domain's responses frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bot.index import Passage
from bot.knowledge import KeyPoint, Position
from bot.matcher import Assessment, Matcher, load_scoring, split_sentences
from bot.tutor import Tutor, shared_tutor

_POINT = re.compile(r"\b(?:point|number|no\.?|#)\s*([1-9])\b", re.IGNORECASE)


@dataclass(frozen=True)
class Evidence:
    """Where the essay makes a key point: the closest sentence of the claim's passages."""

    sentence: str
    passage_id: str
    section: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Feedback:
    position: Position
    assessment: Assessment
    made: list[tuple[KeyPoint, str]]
    missed: list[tuple[KeyPoint, Evidence | None]]

    def result(self, mode: str = "defend") -> dict:
        """The attempt as stored in the tracker (``practice_result``) and read by the report."""
        return {
            "claim": self.position.key,
            "mode": mode,
            "score": 0 if self.assessment.copied else self.assessment.score,
            "total": self.assessment.total,
            "made": [kp.id for kp, _ in self.made],
            "missed": [kp.id for kp, _ in self.missed],
            "copied": self.assessment.copied,
            "off_topic": self.assessment.off_topic or self.assessment.empty,
        }


class Practice:
    def __init__(self, tutor: Tutor, matcher: Matcher | None = None) -> None:
        self.tutor = tutor
        self.knowledge = tutor.knowledge
        self.matcher = matcher or Matcher(tutor.retriever.encoder)
        self.scoring = load_scoring()
        self._evidence: dict[str, Evidence | None] = {}
        self._sentences: dict[str, tuple[list[tuple[str, Passage]], np.ndarray]] = {}

    def pick(self, target: str | None, text: str | None, practised: set[str]) -> Position:
        """The named claim or charge ("point 3", a button), else the first point not practised."""
        if target:
            try:
                return self.knowledge.position(target)
            except KeyError:
                pass
        number = _POINT.search(text or "")
        narrative = self.knowledge.narrative
        if number and 1 <= int(number.group(1)) <= len(narrative):
            return narrative[int(number.group(1)) - 1]
        candidates = [*narrative, *(c for c in self.knowledge.claims.values() if not c.point)]
        return next((c for c in candidates if c.key not in practised), narrative[0])

    def warm(self) -> int:
        """Compute what every round needs once (key point vectors, the essay's evidence for each
        point), so the first student to finish a round does not wait for it while others queue."""
        points = 0
        for position in self.knowledge.claims.values():
            if not position.key_points:
                continue
            self.matcher.assess("warm up", {kp.id: kp.text for kp in position.key_points},
                                essay_passages=self._passages(position))
            for point in position.key_points:
                self.evidence(position, point)
                points += 1
        return points

    def evidence(self, position: Position, point: KeyPoint) -> Evidence | None:
        """The sentence of the position's passages closest to a key point (computed once)."""
        if point.id not in self._evidence:
            encoder = self.tutor.retriever.encoder
            candidates, vectors = self._candidates(position)
            if not candidates:
                self._evidence[point.id] = None
            else:
                best = int(np.argmax(vectors @ encoder.encode_one(point.text)))
                sentence, passage = candidates[best]
                block = self.tutor.essay.block(passage.id)
                sources = tuple(n.citation() for n in self.tutor.essay.sources(block))
                self._evidence[point.id] = Evidence(sentence, passage.id, passage.section, sources)
        return self._evidence[point.id]

    def _candidates(self, position: Position) -> tuple[list[tuple[str, Passage]], np.ndarray]:
        """The sentences of a position's passages that could be evidence, and their vectors."""
        if position.key not in self._sentences:
            candidates = []
            for passage_id in position.passages:
                passage = self.tutor.retriever.index.get(passage_id)
                if passage is not None:
                    candidates += [(s, passage) for s in split_sentences(passage.text) if len(s.split()) >= 5]
            vectors = self.tutor.retriever.encoder.encode([s for s, _ in candidates])
            self._sentences[position.key] = (candidates, vectors)
        return self._sentences[position.key]

    def _passages(self, position: Position) -> dict[str, str]:
        """The position's passages and the quotations they introduce: what a copy would come from."""
        texts = {}
        for passage_id in position.passages:
            block = self.tutor.essay.block(passage_id)
            texts[block.id] = block.text
            follower = self.tutor.essay.follower(block.id)
            if follower is not None:
                texts[follower.id] = follower.text
        return texts

    def assess(self, position: Position, answer: list[str]) -> Feedback:
        passages = self._passages(position)
        assessment = self.matcher.assess(
            "\n".join(answer),
            {kp.id: kp.text for kp in position.key_points},
            threshold=self.scoring.threshold,
            essay_passages=passages,
            off_topic_floor=self.scoring.off_topic_floor,
        )
        by_id = {kp.id: kp for kp in position.key_points}
        made = [(by_id[p.id], p.sentence or "") for p in assessment.made]
        if assessment.copied:
            made = []
        made_ids = {kp.id for kp, _ in made}
        missed = [(kp, self.evidence(position, kp)) for kp in position.key_points if kp.id not in made_ids]
        return Feedback(position, assessment, made, missed)

    def suggestion(self, feedback: Feedback) -> str:
        """One concrete thing to add: the missed point the answer came closest to, else the first."""
        nearest = feedback.assessment.nearest_miss
        missed = {kp.id: kp for kp, _ in feedback.missed}
        if nearest is not None and nearest.id in missed:
            return missed[nearest.id].text
        return feedback.missed[0][0].text if feedback.missed else ""


def made_lines(feedback: Feedback) -> str:
    return "\n".join(f"✓ {kp.text}\n   You said: \"{sentence}\"" for kp, sentence in feedback.made)


def missed_lines(feedback: Feedback) -> str:
    lines = []
    for kp, evidence in feedback.missed:
        lines.append(f"✗ {kp.text}")
        if evidence is not None:
            source = f" Sources: {'; '.join(evidence.sources)}" if evidence.sources else ""
            lines.append(f"   The essay ({evidence.section}): \"{evidence.sentence}\"{source}")
    return "\n".join(lines)


def progress_lines(history: list[dict], knowledge) -> tuple[str, int]:
    """Best score per practised claim, in the narrative's order; and how many were practised."""
    best: dict[str, dict] = {}
    for attempt in history:
        if attempt.get("mode") != "defend" or "claim" not in attempt:
            continue
        current = best.get(attempt["claim"])
        if current is None or attempt["score"] > current["score"]:
            best[attempt["claim"]] = attempt
    lines = []
    for key, position in {**knowledge.claims, **knowledge.charges}.items():
        if key in best:
            label = f"Point {position.point}: {position.title}" if position.point else position.title
            attempts = sum(1 for a in history if a.get("claim") == key)
            lines.append(f"- {label}: best {best[key]['score']} of {best[key]['total']} ({attempts} attempt(s))")
    return "\n".join(lines), len(best)


@lru_cache(maxsize=1)
def shared_practice() -> Practice:
    return Practice(shared_tutor())
