"""The tutor's moves, as the actions need them: rebut, go further, cite, list, question."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from bot.knowledge import Position
from bot.retrieval import Hit, Retriever, shared_retriever

CLAIM_PREFIX = "claim_"


@dataclass(frozen=True)
class Rebuttal:
    claim: Position
    charge: Position | None
    hit: Hit | None


class Tutor:
    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self.essay = retriever.essay
        self.knowledge = retriever.knowledge

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
        hits = self.retriever.search(query, claim=claim, charge=charge_key, k=1, exclude=shown)
        if not hits or not hits[0].curated:
            hits = self.retriever.search(query, claim=claim, charge=charge_key, k=1) or hits
        return Rebuttal(position, charge_position, hits[0] if hits else None)

    def more(self, claim: str | None, charge: str | None, query: str | None, shown: set[str]) -> Hit | None:
        """The next most relevant passage not yet shown, for the same claim (or question)."""
        hits = self.retriever.search(
            self.query_for(query, claim), claim=claim, charge=charge, k=1, exclude=shown
        )
        return hits[0] if hits else None

    def answer_question(self, text: str, shown: set[str], k: int = 2) -> list[Hit]:
        hits = self.retriever.search(text, k=k, exclude=shown)
        return hits or self.retriever.search(text, k=k)

    def warm(self) -> int:
        """Answer every claim and charge once, so the first students do not pay for loading."""
        count = 0
        for claim in self.knowledge.claims.values():
            self.rebut(claim.key, claim.statement, None, set())
            count += 1
        if self.charge_claim in self.knowledge.claims:
            for charge in self.knowledge.charges.values():
                self.rebut(self.charge_claim, charge.statement, charge.key, set())
                count += 1
        return count

    def narrative(self, raised: set[str]) -> list[tuple[Position, bool]]:
        return [(claim, claim.key in raised) for claim in self.knowledge.narrative]

    def opponent_case(self, raised: set[str]) -> Position:
        """A continuity point to argue against the student: the first they have not raised."""
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
