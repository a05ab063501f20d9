"""The tutor's moves, as the actions need them: rebut, go further, cite, list, question."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from bot.essay.knowledge import Position
from bot.search.index import Passage
from bot.search.retrieval import Hit, Retriever, shared_retriever
from bot.settings import BUILD_DIR, JUDGED_PASSAGES
from bot.tutoring.focus import TARGET_WORDS, Focus, Focuser, salient_terms, units_of
from bot.tutoring.quoting import compact_source, join_quote, words

CLAIM_PREFIX = "claim_"
CHOICES = 3
"""Curated passages weighed against each other for a first answer."""
FOCUS_CACHE = BUILD_DIR / "focus.json"
"""The judged sentences of every passage warmed, kept between starts (``Focuser.save``)."""
WARM_FURTHER = 3
"""Passages past the curated ones that "tell me more" reaches for a claim's own statement, warmed at start."""


@dataclass(frozen=True)
class Rebuttal:
    claim: Position
    charge: Position | None
    hit: Hit | None


class Tutor:
    def __init__(self, retriever: Retriever, judge=None, threshold: float | None = None) -> None:
        self.retriever = retriever
        self.essay = retriever.essay
        self.knowledge = retriever.knowledge
        self._judge = judge
        self._threshold = threshold

    @cached_property
    def focuser(self) -> Focuser:
        """Chooses the sentences to quote; the trained judge decides which ones make a key point."""
        judge, threshold = self._judge, self._threshold
        if judge is None:
            from bot.scoring.judge import shared_judge
            from bot.scoring.matcher import load_scoring

            judge, threshold = shared_judge(), load_scoring().for_passages
        return Focuser(self.retriever.encoder, judge, 0.5 if threshold is None else threshold)

    def points_for(self, claim: str | None, charge: str | None) -> dict[str, str]:
        """The key points an answer to this claim (and charge) may lead with: the charge's first."""
        points: dict[str, str] = {}
        for key, table in ((charge, self.knowledge.charges), (claim, self.knowledge.claims)):
            if key and key in table:
                points.update((kp.id, kp.text) for kp in table[key].key_points)
        return points

    def focus(self, hit: Hit, claim: str | None, charge: str | None, query: str | None) -> Focus:
        """The sentences of the passage to quote first, and the key point they make."""
        points = self.points_for(claim, charge)
        passage = hit.passage
        if points:
            focus = self.focuser.for_points(passage.text, passage.kind, points, query)
        else:
            focus = self.focuser.for_question(passage.text, passage.kind, query or "")
            lead = self.lead_for(focus.quote)
            if lead:
                focus = Focus(lead[1], lead[0], focus.quote, focus.chosen, focus.units, focus.strength)
        return self._with_follower(hit, focus)

    @staticmethod
    def _with_follower(hit: Hit, focus: Focus) -> Focus:
        """A quote ending on the colon that introduces a quotation goes on into the quotation."""
        if hit.follower is None or hit.follower.kind == "table" or not focus.quote.rstrip().endswith(":"):
            return focus  # a table is never cut: "read the whole passage" shows it
        units = units_of(hit.follower.text, hit.follower.kind)
        room, taken = max(TARGET_WORDS - focus.words, 0), [0]
        for index in range(1, len(units)):
            if sum(words(units[i]) for i in taken) + words(units[index]) > room:
                break
            taken.append(index)
        inner = join_quote(units, taken)
        return Focus(focus.lead, focus.lead_id, f"{focus.quote}\n\n> {inner}", focus.chosen, focus.units,
                     focus.strength)

    @cached_property
    def _all_points(self) -> tuple[list[tuple[str, str]], np.ndarray]:
        points = list({kp.id: kp.text for p in [*self.knowledge.claims.values(), *self.knowledge.charges.values()]
                       for kp in p.key_points}.items())
        return points, self.retriever.encoder.encode([t for _, t in points])

    def lead_for(self, quote: str, shortlist: int = 3) -> tuple[str, str] | None:
        """The key point (of any claim) that a quotation makes, if the judge says one does."""
        points, vectors = self._all_points
        if not points or self.focuser.judge is None:
            return None
        order = np.argsort(-(vectors @ self.retriever.encoder.encode_one(quote)), kind="stable")[:shortlist]
        scores = self.focuser.judged([(quote, points[int(i)][1]) for i in order])
        best = int(np.argmax(scores))
        return points[int(order[best])] if scores[best] >= self.focuser.threshold else None

    @cached_property
    def compact(self) -> dict[int, str]:
        """Each footnote as ``[n] Author, Short title``, "as above" resolved in the notes' order."""
        earlier: dict[str, str] = {}
        out = {}
        for number, note in sorted(self.essay.footnotes.items()):
            if note.missing:
                out[number] = note.citation()
                continue
            short = compact_source(number, note.text, earlier=earlier)
            if note.url:
                short = f"[{number}] [{short.split('] ', 1)[1]}]({note.url})"
            out[number] = short
        return out

    def cited_in(self, hit: Hit, focus: Focus) -> list[int]:
        """The footnotes the quoted sentences cite, else every footnote of the passage."""
        if self.essay.has_block(hit.passage.id):
            block = self.essay.block(hit.passage.id)
            units, cited, position = units_of(block.text, block.kind), [], 0
            for index, unit in enumerate(units):
                start = block.text.find(unit, position)
                if start < 0:
                    break
                position = start + len(unit)
                if index in focus.chosen:
                    cited += block.cited_between(start, position + 1)
            if cited:
                return list(dict.fromkeys(cited))
        return [note.number for note in hit.sources]

    @property
    def charge_claim(self) -> str | None:
        """The claim whose evidence the charges are (a charge is only answered as that claim)."""
        return self.knowledge.charge_claim

    @staticmethod
    def is_claim(intent: str | None) -> bool:
        return bool(intent and intent.startswith(CLAIM_PREFIX))

    def query_for(self, text: str | None, claim: str | None = None) -> str:
        """The text to search with: the student's words, or the claim's statement for a button."""
        if text and not text.startswith("/"):
            return text
        if claim and claim in self.knowledge.claims:
            return self.knowledge.claims[claim].statement
        return text or ""

    def rebut(self, claim: str, text: str | None, charge: str | None, shown: set[str]) -> Rebuttal:
        """The best passage answering ``claim`` (about ``charge`` if the claim names one).

        A passage already shown in this conversation is shown again only if every curated
        answer to this claim has been shown: a repeated claim deserves an answer too.
        """
        position = self.knowledge.claims[claim]
        charge_position = self.knowledge.charges.get(charge) if charge else None
        query = self.query_for(text, claim)
        charge_key = charge_position.key if charge_position else None
        hits = self.retriever.search(query, claim=claim, charge=charge_key, k=CHOICES, exclude=shown)
        if not hits or not hits[0].curated:
            hits = self.retriever.search(query, claim=claim, charge=charge_key, k=CHOICES) or hits
        return Rebuttal(position, charge_position, self.best_answer(hits, claim, charge_key, query))

    def best_answer(self, hits: list[Hit], claim: str | None, charge: str | None, query: str | None) -> Hit | None:
        """Of the curated passages offered, the one whose focused quote best answers what was said.

        Curated passages come first in the claims file's order; a passage that makes a key point
        the student's words are close to beats one that only mentions it in passing.
        """
        curated = [h for h in hits if h.curated] or hits[:1]
        if len(curated) <= 1:
            return curated[0] if curated else None
        return max(curated, key=lambda h: self.focus(h, claim, charge, query).strength)

    def more(self, claim: str | None, charge: str | None, query: str | None, shown: set[str]) -> Hit | None:
        """The next most relevant passage not yet shown, for the same claim (or question)."""
        hits = self.retriever.search(
            self.query_for(query, claim), claim=claim, charge=charge, k=1, exclude=shown
        )
        return hits[0] if hits else None

    def answer_question(self, text: str, shown: set[str], k: int = 1, pool: int = 12) -> list[Hit]:
        """The passages that name or explain what the question asks about, best first.

        The nearest passages by meaning are re-ranked by how many of the question's own words
        (a name, a term) they contain, so "who was X?" finds the passages that name X.
        """
        terms = salient_terms(text)
        hits = self.retriever.search(text, k=pool, exclude=shown) or self.retriever.search(text, k=pool)
        def rank(hit: Hit) -> tuple[int, float]:
            return (len(terms & salient_terms(hit.passage.text)), hit.score)
        return sorted(hits, key=rank, reverse=True)[:k]

    def asked(self) -> list[tuple[str, str | None, Position]]:
        """Every (claim, charge) an answer is focused for: each claim, and each charge as its claim."""
        asked = [(claim, None, position) for claim, position in self.knowledge.claims.items()]
        if self.charge_claim in self.knowledge.claims:
            asked += [(self.charge_claim, charge, position) for charge, position in self.knowledge.charges.items()]
        return asked

    def warm(self, cache: Path | None = FOCUS_CACHE, shipped: Path | None = JUDGED_PASSAGES) -> int:
        """Answer every claim and charge once, so the first students do not pay for loading.

        The judged sentences of every passage for every claim are read from ``shipped`` (made by
        ``judge_passages``), so no turn waits for the judge to read a passage, and every passage's
        sentences are embedded in one batch, so none waits for that either; what is missing
        there (knowledge edited since) is judged here for the curated passages and the ones
        "tell me more" reaches next for the claim's own statement (``WARM_FURTHER``), and kept
        in ``cache`` for the next start.
        """
        self.focuser.load(shipped, shipped=True)
        self.focuser.load(cache)
        self.focuser.prepare((passage.text, passage.kind) for passage in self.retriever.index.passages)
        before = self.focuser.fresh
        asked = self.asked()
        for claim, charge, position in asked:
            for passage_id in position.passages:
                self._warm_focus(passage_id, claim, charge)
            self.rebut(claim, position.statement, charge, set())
            shown = set(position.passages)
            for _ in range(WARM_FURTHER):
                hit = self.more(claim, charge, position.statement, shown)
                if hit is None:
                    break
                self.focus(hit, claim, charge, position.statement)
                shown.update(hit.ids)
        if self.focuser.fresh > before:
            self.focuser.save(cache)
        return len(asked)

    def _every_answer(self) -> Iterator[tuple[Passage, str, str | None, list[str]]]:
        """Each passage with each (claim, charge) and its key points, where there is something to judge."""
        asked = self.asked()
        for passage in self.retriever.index.passages:
            if not units_of(passage.text, passage.kind):
                continue
            for claim, charge, _ in asked:
                points = list(self.points_for(claim, charge).values())
                if points:
                    yield passage, claim, charge, points

    def judge_passages(self, path: Path | None = JUDGED_PASSAGES) -> tuple[int, int]:
        """Judge every passage of the index for every claim and charge, and write the table ``warm``
        reads (only the current passages and key points: what was edited away is dropped).
        Returns (matrices written, matrices the judge had to compute)."""
        self.focuser.load(path, shipped=True)
        before = self.focuser.fresh
        for passage, _, _, points in self._every_answer():
            self.focuser.support(passage.text, passage.kind, points)
        self.focuser.save(path, shipped=True)
        return self.focuser.supported, self.focuser.fresh - before

    def unjudged(self, path: Path | None = JUDGED_PASSAGES) -> list[tuple[str, str, str | None]]:
        """The (passage, claim, charge) answers ``path`` holds no judged sentences for."""
        focuser = Focuser(self.retriever.encoder, self.focuser.judge, self.focuser.threshold)
        focuser.load(path, shipped=True)
        return [(passage.id, claim, charge) for passage, claim, charge, points in self._every_answer()
                if focuser.kept(passage.text, passage.kind, points) is None]

    def _warm_focus(self, passage_id: str, claim: str | None, charge: str | None) -> None:
        passage = self.retriever.index.get(passage_id)
        if passage is not None:
            self.focuser.support(passage.text, passage.kind, list(self.points_for(claim, charge).values()))

    def narrative(self, raised: set[str]) -> list[tuple[Position, bool]]:
        return [(claim, claim.key in raised) for claim in self.knowledge.narrative]

    def opponent_case(self, raised: set[str]) -> Position:
        """A numbered point of the thesis to argue against the student: the first they have not raised."""
        points = self.knowledge.narrative
        return next((p for p in points if p.key not in raised), points[0])

    def candidates(self, ranking: list[dict], limit: int = 2, floor: float = 0.1) -> list[Position]:
        """The claims an uncertain classification was torn between, best first."""
        found = []
        for entry in ranking:
            name, confidence = entry.get("name"), entry.get("confidence") or 0.0
            if name in self.knowledge.claims and confidence >= floor:
                found.append(self.knowledge.claims[name])
            if len(found) == limit:
                break
        return found


@lru_cache(maxsize=1)
def shared_tutor() -> Tutor:
    return Tutor(shared_retriever())
