"""Practice rounds: choose a point to argue, score the student's rebuttal, say what to add.

The scoring itself is the generic matcher's; this module knows which key points and passages
belong to a claim, and lays out the feedback that the domain's responses frame.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.essay.knowledge import KeyPoint, Position
from bot.essay.parse import Block
from bot.scoring.matcher import Assessment, Matcher, Scoring, load_scoring, split_sentences
from bot.settings import BUILD_DIR
from bot.tutoring.kept import judge_fingerprint, read_kept, write_kept
from bot.tutoring.results import PracticeResult
from bot.tutoring.tutor import Tutor, shared_tutor

EVIDENCE_SHORTLIST = 8
"""Sentences, closest by cosine, that the judge reads when looking for the essay's sentence for a point."""
ESSAY = "\0essay"
NEAR_SHARE = 0.25
"""A student's sentence is offered as a start for a missed point when its score reaches this share of the threshold."""
EVIDENCE_CACHE = BUILD_DIR / "evidence.json"
"""Every key point's evidence, kept between starts: choosing it runs the judge over the essay (~40 s)."""

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

    def result(self, mode: str = "defend") -> PracticeResult:
        """The round as the tracker keeps it and the teacher report reads it."""
        return PracticeResult.defence(
            self.position.key,
            0 if self.assessment.copied else self.assessment.score,
            self.assessment.total,
            [kp.id for kp, _ in self.made],
            [kp.id for kp, _ in self.missed],
            copied=self.assessment.copied,
            off_topic=self.assessment.off_topic or self.assessment.empty,
            mode=mode,
        )


def practice_matcher(tutor: Tutor, scoring: Scoring, judge) -> Matcher:
    """The matcher practice rounds score with: ``judge`` over the scoring settings' shortlist, the
    whole answer read too, and the answer's embeddings in bfloat16 when the judge computes in it."""
    from bot.search.embeddings import Bfloat16View

    encoder = tutor.retriever.encoder
    if getattr(judge, "precision", "float32") == "bfloat16" and hasattr(encoder, "encode_cached"):
        encoder = Bfloat16View(encoder)
    return Matcher(encoder, scoring, judge=judge, shortlist=scoring.shortlist, whole_text=True)


class Practice:
    def __init__(self, tutor: Tutor, matcher: Matcher | None = None, evidence_cache: Path | None = EVIDENCE_CACHE) -> None:
        self.tutor = tutor
        self.evidence_cache = evidence_cache
        self.knowledge = tutor.knowledge
        self.scoring = matcher.scoring if matcher is not None else load_scoring()
        if matcher is None:
            from bot.scoring.judge import shared_judge

            matcher = practice_matcher(tutor, self.scoring, shared_judge())
        self.matcher = matcher
        self._evidence: dict[str, Evidence | None] = {}
        self._sentences: dict[str, tuple[list[tuple[str, Block]], np.ndarray]] = {}

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
        point), so the first student to finish a round does not wait for it while others queue.

        The evidence is read from ``evidence_cache`` when it was made from the same key points,
        essay, judge and threshold, and written there otherwise.
        """
        positions = [p for p in self.knowledge.claims.values() if p.key_points]
        if self.matcher.judge is not None and hasattr(self.matcher.judge, "warm"):
            self.matcher.judge.warm()  # loads and checks the weights even when no evidence is chosen
        key = self._evidence_key(positions)
        cached = self._read_evidence(key)
        self._evidence.update(cached)
        for position in positions:
            self.matcher.assess("warm up", {kp.id: kp.text for kp in position.key_points},
                                essay_passages=self._passages(position))
            for point in position.key_points:
                self.evidence(position, point)
        if len(cached) < len(self._evidence):
            self._write_evidence(key)
        return sum(len(p.key_points) for p in positions)

    def _evidence_key(self, positions: list[Position]) -> str:
        record = {
            "points": [[p.key, list(p.passages), [[kp.id, kp.text] for kp in p.key_points]] for p in positions],
            "essay": [[b.id, b.kind, b.section, b.text] for b in self.tutor.essay.blocks],
            "judge": judge_fingerprint(self.matcher.judge),
            "threshold": self.scoring.for_passages,
            "shortlist": EVIDENCE_SHORTLIST,
        }
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()

    def _read_evidence(self, key: str) -> dict[str, Evidence | None]:
        record = read_kept(self.evidence_cache)
        if record is None or record.get("key") != key:
            return {}
        try:
            return {
                point: None if found is None else Evidence(
                    found["sentence"], found["passage_id"], found["section"], tuple(found["sources"]))
                for point, found in record["evidence"].items()
            }
        except (KeyError, TypeError, AttributeError):
            logging.getLogger(__name__).warning("unreadable %s: the evidence is chosen again", self.evidence_cache)
            return {}

    def _write_evidence(self, key: str) -> None:
        evidence = {point: None if found is None else asdict(found) for point, found in self._evidence.items()}
        write_kept(self.evidence_cache, {"key": key, "evidence": evidence})

    def evidence(self, position: Position, point: KeyPoint) -> Evidence | None:
        """The essay sentence that makes a key point, as the matcher judges it (computed once).

        The position's passages are read first, then the whole essay; a sentence is only shown
        as making the point if the matcher says it does, so None is better than a near miss.
        """
        if point.id not in self._evidence:
            found = None
            for candidates, vectors in (self._candidates(position), self._essay_candidates()):
                found = self._best_evidence(point, candidates, vectors)
                if found is not None:
                    break
            self._evidence[point.id] = found
        return self._evidence[point.id]

    def _best_evidence(
        self, point: KeyPoint, candidates: list[tuple[str, Block]], vectors: np.ndarray
    ) -> Evidence | None:
        if not candidates:
            return None
        cosines = vectors @ self.tutor.retriever.encoder.encode_one(point.text)
        order = [int(i) for i in np.argsort(-cosines, kind="stable")[:EVIDENCE_SHORTLIST]]
        judge = self.matcher.judge
        if judge is None:
            best = order[0]
        else:
            scores = judge.score([(candidates[i][0], point.text) for i in order])
            best = order[int(np.argmax(scores))]
            if float(np.max(scores)) < self.scoring.for_passages:
                return None
        sentence, block = candidates[best]
        sources = tuple(n.citation() for n in self._sentence_sources(block, sentence))
        essay = self.tutor.essay
        return Evidence(sentence, block.id, block.section, sources or (f'{essay.citation}, section "{block.section}"',))

    def _sentence_sources(self, block: Block, sentence: str) -> list:
        """The footnotes cited in the sentence itself, else the ones its paragraph cites."""
        essay = self.tutor.essay
        start = block.text.find(sentence)
        if start >= 0:
            numbers = block.cited_between(start, start + len(sentence) + 1)
            cited = [essay.footnotes[n] for n in numbers if n in essay.footnotes]
            if cited:
                return cited
        return essay.sources(block)

    def _sentences_of(self, blocks: list[Block]) -> tuple[list[tuple[str, Block]], np.ndarray]:
        candidates = [(s, b) for b in blocks for s in split_sentences(b.text) if len(s.split()) >= 5]
        return candidates, self.tutor.retriever.encoder.encode([s for s, _ in candidates])

    def _candidates(self, position: Position) -> tuple[list[tuple[str, Block]], np.ndarray]:
        """The sentences of a position's passages (and the quotations they introduce), with vectors."""
        if position.key not in self._sentences:
            blocks = [self.tutor.essay.block(block_id) for block_id in self._passages(position)]
            self._sentences[position.key] = self._sentences_of(blocks)
        return self._sentences[position.key]

    def _essay_candidates(self) -> tuple[list[tuple[str, Block]], np.ndarray]:
        if ESSAY not in self._sentences:
            self._sentences[ESSAY] = self._sentences_of([b for b in self.tutor.essay.blocks if b.kind != "table"])
        return self._sentences[ESSAY]

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
            threshold=self.scoring.threshold_for(position.group),
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

    def suggestion(self, feedback: Feedback) -> Suggestion | None:
        """One next move built from what was missed: the missed point the answer came closest to
        (its number in the missed list), the student's sentence that came closest, and the
        source the essay gives for that point."""
        if not feedback.missed:
            return None
        missed_ids = [kp.id for kp, _ in feedback.missed]
        nearest = feedback.assessment.nearest_miss
        target = nearest.id if nearest is not None and nearest.id in missed_ids else missed_ids[0]
        number = missed_ids.index(target) + 1
        evidence = feedback.missed[number - 1][1]
        result = feedback.assessment.points.get(target)
        near = NEAR_SHARE * self.scoring.threshold_for(feedback.position.group)
        close = result is not None and result.sentence and result.score >= near
        return Suggestion(
            number=number,
            sentence=result.sentence if close else None,
            source=evidence.sources[0] if evidence is not None and evidence.sources else None,
        )


@dataclass(frozen=True)
class Suggestion:
    number: int
    """The missed point's place in the list of missed points."""
    sentence: str | None
    """The student's own sentence that came closest to it, if any came near."""
    source: str | None
    """The first footnote the essay cites where it makes the point."""

    def response(self) -> str:
        if self.sentence:
            return "utter_practice_suggestion_near" if self.source else "utter_practice_suggestion_near_unsourced"
        return "utter_practice_suggestion_start" if self.source else "utter_practice_suggestion_start_unsourced"


def made_lines(feedback: Feedback, templates: Mapping[str, str]) -> str:
    line = templates["utter_practice_made_line"]
    return "\n".join(line.format(point=kp.text, sentence=sentence) for kp, sentence in feedback.made)


def missed_lines(feedback: Feedback, templates: Mapping[str, str]) -> str:
    lines = []
    for kp, evidence in feedback.missed:
        lines.append(templates["utter_practice_missed_line"].format(point=kp.text))
        if evidence is not None:
            lines.append(templates["utter_practice_missed_evidence"].format(
                section=evidence.section, sentence=evidence.sentence))
            if evidence.sources:
                lines.append(templates["utter_practice_missed_sources"].format(sources="; ".join(evidence.sources)))
    return "\n".join(lines)


def progress_lines(history: list[PracticeResult], knowledge, templates: Mapping[str, str]) -> tuple[str, int]:
    """Best score per practised claim, in the narrative's order; and how many were practised."""
    best: dict[str, PracticeResult] = {}
    for attempt in history:
        if attempt.mode != "defend" or not attempt.claim:
            continue
        current = best.get(attempt.claim)
        if current is None or (attempt.score or 0) > (current.score or 0):
            best[attempt.claim] = attempt
    lines = []
    for key, position in {**knowledge.claims, **knowledge.charges}.items():
        if key in best:
            label = f"Point {position.point}: {position.title}" if position.point else position.title
            attempts = sum(1 for a in history if a.claim == key)
            line = templates["utter_progress_line_one" if attempts == 1 else "utter_progress_line"]
            lines.append(line.format(label=label, score=best[key].score, total=best[key].total, attempts=attempts))
    return "\n".join(lines), len(best)


@lru_cache(maxsize=1)
def shared_practice() -> Practice:
    return Practice(shared_tutor())
