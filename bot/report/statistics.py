"""What the teacher reads off the rounds: coverage and averages per point, the most-missed key points, each student."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.essay.knowledge import Knowledge, Position
from bot.report.load import Attempt


@dataclass(frozen=True)
class PointStats:
    """One claim across the class."""

    key: str
    students: int
    attempts: int
    raised: int
    average: float | None
    mean_score: float | None
    total: int | None


@dataclass(frozen=True)
class Missed:
    claim: str
    key_point: str
    text: str
    missed: int
    attempts: int

    @property
    def rate(self) -> float:
        return self.missed / self.attempts


class Labels:
    """Claim titles, point numbers and key point texts from the claims file, with the raw key as fallback."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.key_points = knowledge.all_key_points()

    def position(self, key: str) -> Position | None:
        return self.knowledge.claims.get(key) or self.knowledge.charges.get(key)

    def point(self, key: str) -> int | None:
        found = self.position(key)
        return found.point if found else None

    def claim(self, key: str) -> str:
        found = self.position(key)
        if found is None:
            return key
        return f"{found.point}. {found.title}" if found.point else found.title

    def short(self, key: str) -> str:
        found = self.position(key)
        return key if found is None else str(found.point or found.title)

    def key_point(self, kp: str) -> str:
        found = self.key_points.get(kp)
        return found.text if found else kp

    def order(self, seen: Iterable[str]) -> list[str]:
        known = [c.key for c in self.knowledge.narrative]
        known += [k for k, c in self.knowledge.claims.items() if not c.point]
        return known + sorted(set(seen) - set(known))


def point_stats(attempts: list[Attempt], labels: Labels) -> list[PointStats]:
    """Coverage and class average of every claim, the narrative's points first."""
    students: dict[str, set[str]] = defaultdict(set)
    scored: dict[str, list[Attempt]] = defaultdict(list)
    raised: Counter[str] = Counter()
    for attempt in attempts:
        for key in attempt.practised:
            students[key].add(attempt.student)
        if attempt.prosecuted:
            raised.update(attempt.made)
        elif attempt.scored:
            scored[attempt.claim].append(attempt)
    stats = []
    for key in labels.order(students):
        done = scored.get(key, [])
        stats.append(
            PointStats(
                key=key,
                students=len(students.get(key, ())),
                attempts=len(done),
                raised=raised[key],
                average=sum(a.share for a in done) / len(done) if done else None,
                mean_score=sum(a.score for a in done) / len(done) if done else None,
                total=max(a.total for a in done) if done else None,
            )
        )
    return stats


def most_missed(attempts: list[Attempt], labels: Labels) -> list[Missed]:
    """Key points by how often they were missed, as a share of the defences of their claim."""
    tries: Counter[str] = Counter()
    misses: Counter[tuple[str, str]] = Counter()
    for attempt in attempts:
        if attempt.prosecuted or not attempt.scored:
            continue
        tries[attempt.claim] += 1
        misses.update((attempt.claim, kp) for kp in set(attempt.missed))
    found = [Missed(claim, kp, labels.key_point(kp), n, tries[claim]) for (claim, kp), n in misses.items()]
    return sorted(found, key=lambda m: (-m.rate, -m.missed, m.claim, m.key_point))


@dataclass
class StudentSummary:
    """One student's rounds, the points they practised and their best defence of each."""

    name: str
    attempts: list[Attempt]
    practised: list[str] = field(default_factory=list)
    best: dict[str, Attempt] = field(default_factory=dict)
    defences: Counter[str] = field(default_factory=Counter)


def student_summary(name: str, attempts: list[Attempt], labels: Labels) -> StudentSummary:
    seen = {k for a in attempts for k in a.practised}
    best: dict[str, Attempt] = {}
    for a in attempts:
        if not a.prosecuted and a.scored and (a.claim not in best or a.share > best[a.claim].share):
            best[a.claim] = a
    ordered_best = {k: best[k] for k in labels.order(best) if k in best}
    return StudentSummary(
        name,
        attempts,
        [k for k in labels.order(seen) if k in seen],
        ordered_best,
        Counter(a.claim for a in attempts if not a.prosecuted),
    )


def by_student(attempts: list[Attempt]) -> dict[str, list[Attempt]]:
    """Each student's rounds in time order, students by name."""
    grouped: dict[str, list[Attempt]] = defaultdict(list)
    for a in sorted(attempts, key=lambda a: (a.student, a.timestamp)):
        grouped[a.student].append(a)
    return dict(grouped)
