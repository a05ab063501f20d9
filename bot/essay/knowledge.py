"""The curated debate: claims, charges and their key counter-points (``knowledge/claims.yml``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.essay.parse import Essay
from bot.settings import KNOWLEDGE_DIR

CLAIMS_FILE = KNOWLEDGE_DIR / "claims.yml"


def configured_claims_file(config: Mapping[str, Any], owner: str) -> Path:
    """The claims file an NLU component's ``claims_file`` setting names (default: knowledge/), which must exist."""
    path = Path(config["claims_file"]) if config.get("claims_file") else CLAIMS_FILE
    if not path.is_file():
        raise ValueError(f"{owner}: claims_file {path} does not exist")
    return path


COUNTER_ARGUMENT_KEY = "counter_argument"
"""Where the NLU records the essay's answer a student's message makes: {"claim", "key_point", "score"}."""


class KnowledgeError(ValueError):
    """The claims file contradicts the essay; the message names the entry."""


@dataclass(frozen=True)
class KeyPoint:
    id: str
    text: str


@dataclass(frozen=True)
class Position:
    """A claim (intent) or a charge (entity value) and the essay's answer to it."""

    key: str
    title: str
    statement: str
    opponent: str
    passages: tuple[str, ...]
    key_points: tuple[KeyPoint, ...]
    footnotes: tuple[int, ...]
    point: int | None = None
    terms: tuple[str, ...] = ()
    cues: tuple[tuple[tuple[str, ...], ...], ...] = ()
    group: str = "core"
    """Which set of positions it belongs to, so evaluation can report newly added ones apart."""


@dataclass(frozen=True)
class Knowledge:
    claims: dict[str, Position]
    charges: dict[str, Position]
    charge_claim: str | None = None
    thesis: str = "the thesis"
    """What the essay argues against, as a teacher names it ("argued for ...")."""

    @property
    def narrative(self) -> list[Position]:
        """The numbered points of the thesis the essay answers, in order."""
        return sorted((c for c in self.claims.values() if c.point), key=lambda c: c.point or 0)

    @property
    def group_of(self) -> dict[str, str]:
        """Each claim's group of positions (``group`` in the claims file), for figures and thresholds by group."""
        return {key: claim.group for key, claim in self.claims.items()}

    def position(self, key: str) -> Position:
        found = self.claims.get(key) or self.charges.get(key)
        if found is None:
            raise KeyError(f"no claim or charge {key!r} in the claims file")
        return found

    def key_point(self, claim: str | None, key_point: str | None) -> tuple[Position, KeyPoint] | None:
        """A claim and one of its key points by id; None when either is unknown."""
        position = self.claims.get(claim or "")
        found = next((kp for kp in position.key_points if kp.id == key_point), None) if position else None
        return (position, found) if found else None

    def all_key_points(self) -> dict[str, KeyPoint]:
        return {
            kp.id: kp
            for position in [*self.claims.values(), *self.charges.values()]
            for kp in position.key_points
        }


def _position(entry: dict, key_field: str) -> Position:
    return Position(
        key=entry[key_field],
        title=entry["title"],
        statement=" ".join(entry["statement"].split()),
        opponent=" ".join(entry.get("opponent", "").split()),
        passages=tuple(entry["passages"]),
        key_points=tuple(KeyPoint(kp["id"], kp["text"]) for kp in entry["key_points"]),
        footnotes=tuple(entry.get("footnotes", [])),
        point=entry.get("point"),
        terms=tuple(t.lower() for t in entry.get("terms", [])),
        cues=tuple(tuple(tuple(w.lower() for w in group) for group in cue) for cue in entry.get("cues", [])),
        group=str(entry.get("group", "core")),
    )


def load_knowledge(path: Path = CLAIMS_FILE) -> Knowledge:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    claims = [_position(e, "intent") for e in data.get("claims", [])]
    charges = [_position(e, "value") for e in data.get("charges", [])]
    return Knowledge(
        {c.key: c for c in claims}, {c.key: c for c in charges}, data.get("charge_claim"), str(data.get("thesis") or "the thesis")
    )


def validate(knowledge: Knowledge, essay: Essay) -> list[str]:
    """Every problem between the claims file and the essay, as readable sentences."""
    problems: list[str] = []
    seen_points: set[str] = set()
    for position in [*knowledge.claims.values(), *knowledge.charges.values()]:
        where = f"{position.key}:"
        if not position.passages:
            problems.append(f"{where} lists no passages")
        cited: set[int] = set()
        for block_id in position.passages:
            if not essay.has_block(block_id):
                problems.append(f"{where} passage {block_id!r} is not in the essay")
                continue
            cited.update(essay.block(block_id).footnotes)
        for number in position.footnotes:
            if number not in essay.footnotes:
                problems.append(f"{where} footnote {number} is not in the essay")
        if set(position.footnotes) != cited:
            problems.append(
                f"{where} footnotes {sorted(position.footnotes)} differ from those its passages cite {sorted(cited)}"
            )
        if not 3 <= len(position.key_points) <= 6:
            problems.append(f"{where} has {len(position.key_points)} key points (3 to 6 expected)")
        for kp in position.key_points:
            if kp.id in seen_points:
                problems.append(f"{where} key point id {kp.id!r} is used twice")
            seen_points.add(kp.id)
    if knowledge.charges and knowledge.charge_claim not in knowledge.claims:
        problems.append(f"charge_claim {knowledge.charge_claim!r} is not one of the claims")
    points = sorted(c.point for c in knowledge.claims.values() if c.point)
    if points != list(range(1, len(points) + 1)):
        problems.append(f"narrative points are {points}, not 1..n")
    return problems
