"""One finished practice round, as the practice actions store it and the teacher report reads it.

It is kept in the tracker as the ``practice_result`` slot (and appended to ``practice_history``)
in the dictionary form of ``as_slot``; ``from_slot`` reads it back, and refuses anything else.
A defence scores key points: ``made``/``missed`` hold key point ids. A prosecution has no score:
``made``/``missed`` hold the claims the student raised or left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RESULT_SLOT = "practice_result"
HISTORY_SLOT = "practice_history"
PROSECUTE = "prosecute"


@dataclass(frozen=True)
class PracticeResult:
    mode: str
    claim: str = ""
    score: int | None = None
    total: int | None = None
    made: tuple[str, ...] = ()
    missed: tuple[str, ...] = ()
    copied: bool = False
    off_topic: bool = False

    @classmethod
    def defence(
        cls, claim: str, score: int, total: int, made: Iterable[str], missed: Iterable[str],
        copied: bool = False, off_topic: bool = False, mode: str = "defend",
    ) -> PracticeResult:
        return cls(mode, claim, score, total, tuple(made), tuple(missed), copied, off_topic)

    @classmethod
    def prosecution(cls, raised: Iterable[str], left_out: Iterable[str]) -> PracticeResult:
        return cls(PROSECUTE, made=tuple(raised), missed=tuple(left_out))

    @property
    def prosecuted(self) -> bool:
        return self.mode == PROSECUTE

    @property
    def scored(self) -> bool:
        return self.score is not None and bool(self.total)

    @property
    def share(self) -> float:
        return self.score / self.total if self.scored else 0.0

    def as_slot(self) -> dict[str, Any]:
        """The stored form (a prosecution keeps its own key names: stored rounds stay readable)."""
        if self.prosecuted:
            return {"mode": PROSECUTE, "raised": list(self.made), "missed_points": list(self.missed)}
        return {
            "claim": self.claim,
            "mode": self.mode,
            "score": self.score,
            "total": self.total,
            "made": list(self.made),
            "missed": list(self.missed),
            "copied": self.copied,
            "off_topic": self.off_topic,
        }

    @classmethod
    def from_slot(cls, value: Any) -> PracticeResult:
        """The round stored as ``value``; ``ValueError`` if it is not one."""
        if not isinstance(value, Mapping):
            raise ValueError(f"a practice result is a mapping, not {type(value).__name__}")
        try:
            if value.get("mode") == PROSECUTE:
                return cls.prosecution(value.get("raised", ()), value.get("missed_points", ()))
            return cls.defence(
                str(value["claim"]), int(value["score"]), int(value["total"]), value.get("made", ()),
                value.get("missed", ()), bool(value.get("copied")), bool(value.get("off_topic")),
                str(value.get("mode", "defend")),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a practice result: {error}") from error


def read_history(history: Iterable[Any] | None) -> list[PracticeResult]:
    """The readable rounds of a ``practice_history`` slot, in order."""
    found = []
    for value in history or ():
        try:
            found.append(PracticeResult.from_slot(value))
        except ValueError:
            continue
    return found
