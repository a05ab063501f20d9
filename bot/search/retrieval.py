"""Search the essay: a text, optionally the claim (and charge) it makes, to ranked passages."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from bot.essay.footnotes import Footnote
from bot.essay.knowledge import Knowledge, load_knowledge
from bot.essay.parse import Essay, load_essay
from bot.search.embeddings import Encoder, shared_encoder
from bot.search.index import Passage, PassageIndex


@dataclass(frozen=True)
class Hit:
    """A passage found, with the quotation (or list, table) it introduces when it ends in ':'."""

    passage: Passage
    score: float
    curated: bool
    sources: tuple[Footnote, ...]
    follower: Passage | None = None

    @property
    def id(self) -> str:
        return self.passage.id

    @property
    def ids(self) -> list[str]:
        return [self.passage.id] + ([self.follower.id] if self.follower else [])


class Retriever:
    """Curated answers first (the charge's, then the claim's), then nearest passages."""

    def __init__(self, index: PassageIndex, essay: Essay, knowledge: Knowledge, encoder: Encoder) -> None:
        self.index = index
        self.essay = essay
        self.knowledge = knowledge
        self.encoder = encoder

    def curated(self, claim: str | None = None, charge: str | None = None) -> list[str]:
        ids: list[str] = []
        for key, table in ((charge, self.knowledge.charges), (claim, self.knowledge.claims)):
            if key and key in table:
                ids.extend(i for i in table[key].passages if i not in ids)
        return ids

    def search(
        self,
        text: str,
        claim: str | None = None,
        charge: str | None = None,
        k: int = 3,
        exclude: set[str] | frozenset[str] = frozenset(),
    ) -> list[Hit]:
        """Up to ``k`` passages for ``text``, never one whose id is in ``exclude``."""
        vector = self.encoder.encode_one(text or "")
        curated = [i for i in self.curated(claim, charge) if i not in exclude and self.index.get(i)]
        scores = self.index.scores_for(vector, curated)
        hits: list[Hit] = []
        taken = set(exclude)
        for passage_id in curated:
            if len(hits) == k:
                break
            if passage_id not in taken:
                hits.append(self._hit(self.index.get(passage_id), scores.get(passage_id, 0.0), True, taken))
                taken.update(hits[-1].ids)
        if len(hits) < k:
            for passage, score in self.index.search(vector, k + len(taken)):
                if passage.id not in taken:
                    hits.append(self._hit(passage, score, False, taken))
                    taken.update(hits[-1].ids)
                if len(hits) == k:
                    break
        return hits

    def hit_for(self, passage_id: str) -> Hit | None:
        """A passage by id, with the quotation it introduces and the sources of both."""
        passage = self.index.get(passage_id)
        return self._hit(passage, 1.0, False, set()) if passage is not None else None

    def _hit(self, passage: Passage, score: float, curated: bool, taken: set[str]) -> Hit:
        block = self.essay.follower(passage.id) if self.essay.has_block(passage.id) else None
        follower = self.index.get(block.id) if block and block.id not in taken else None
        numbers = [*passage.footnotes, *(follower.footnotes if follower else ())]
        sources = tuple(self.essay.footnotes[n] for n in dict.fromkeys(numbers) if n in self.essay.footnotes)
        return Hit(passage, score, curated, sources, follower)


@lru_cache(maxsize=1)
def shared_retriever() -> Retriever:
    """The process-wide retriever: essay, claims, index and model loaded once."""
    return Retriever(PassageIndex.load(), load_essay(), load_knowledge(), shared_encoder())
