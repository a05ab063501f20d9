"""The teacher's report: what each student practised, and what the class keeps missing.

It reads the ``practice_result`` slot events straight from Rasa's SQL tracker store, so it
needs no running server and works as well on a copy of the database as on the live one.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import logging
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bot.essay.knowledge import Knowledge, Position
from bot.settings import REPORT_SALT_ENV, report_salt

log = logging.getLogger(__name__)

RESULT_SLOT = "practice_result"
SALT_ENV = REPORT_SALT_ENV
DEFAULT_SALT = "debate-tutor/teacher-report/v1"
TOP_MISSED = 10
CSV_FIELDS = ("student", "date", "claim", "point", "mode", "score", "total", "made", "missed", "copied", "off_topic")

EVENTS = sa.table(
    "events",
    sa.column("id"),
    sa.column("sender_id"),
    sa.column("type_name"),
    sa.column("timestamp"),
    sa.column("action_name"),
    sa.column("data"),
)


class ReportError(RuntimeError):
    """The tracker store cannot be read; the message names the database."""


@dataclass(frozen=True)
class Attempt:
    """One finished practice round as the practice action recorded it.

    A defence scores key points: ``made``/``missed`` hold key point ids. A prosecution has no
    score: ``made``/``missed`` hold the claims the student raised or left out.
    """

    student: str
    timestamp: float
    mode: str
    claim: str = ""
    score: int | None = None
    total: int | None = None
    made: tuple[str, ...] = ()
    missed: tuple[str, ...] = ()
    copied: bool = False
    off_topic: bool = False

    @property
    def scored(self) -> bool:
        return self.score is not None and bool(self.total)

    @property
    def share(self) -> float:
        return self.score / self.total if self.scored else 0.0

    @property
    def practised(self) -> tuple[str, ...]:
        return self.made if self.mode == "prosecute" else (self.claim,)

    @property
    def date(self) -> str:
        return datetime.fromtimestamp(self.timestamp, tz=UTC).isoformat(timespec="seconds")


def default_salt() -> str:
    """``TUTOR_REPORT_SALT``, else a fixed project string.

    A salt stops anyone from reversing a hashed id by hashing every likely sender id; the fixed
    default keeps pseudonyms stable from one report to the next so reports can be compared.
    A school that shares reports outside the staff room sets its own secret salt.
    """
    return report_salt() or DEFAULT_SALT


def pseudonym(student: str, salt: str) -> str:
    return "anon-" + hashlib.sha256(f"{salt}\x00{student}".encode()).hexdigest()[:12]


def shown_url(url: str) -> str:
    """The URL with its password masked, for messages and the report's header."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def _engine(url: str) -> sa.engine.Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as error:
        raise ReportError(f"{url!r} is not a database URL (e.g. sqlite:///build/tracker.db)") from error
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not parsed.database or not path.is_file():
            raise ReportError(
                f"no tracker store at {url}: the file {path} does not exist (practise with `make run` first, or pass --db)"
            )
        uri = f"{path.resolve().as_uri()}?mode=ro"
        return sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    connect_args = {"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {}
    try:
        return sa.create_engine(parsed, connect_args=connect_args)
    except (sa.exc.NoSuchModuleError, ImportError) as error:
        raise ReportError(f"cannot open {shown_url(url)}: no driver for it ({error})") from error


def _attempt(row_id: int, student: str, timestamp: float | None, data: str) -> Attempt | None:
    try:
        event = json.loads(data)
        value = event.get("value")
        if event.get("name") != RESULT_SLOT or not isinstance(value, dict):
            return None
        when = float(timestamp if timestamp is not None else event["timestamp"])
        if value.get("mode") == "prosecute":
            return Attempt(
                student, when, "prosecute", made=tuple(value.get("raised", ())), missed=tuple(value.get("missed_points", ()))
            )
        return Attempt(
            student,
            when,
            value.get("mode", "defend"),
            claim=value["claim"],
            score=int(value["score"]),
            total=int(value["total"]),
            made=tuple(value.get("made", ())),
            missed=tuple(value.get("missed", ())),
            copied=bool(value.get("copied")),
            off_topic=bool(value.get("off_topic")),
        )
    except (KeyError, TypeError, ValueError) as error:
        log.warning("skipped malformed %s event %s of %r: %s", RESULT_SLOT, row_id, student, error)
        return None


def load_attempts(url: str) -> list[Attempt]:
    """Every scored practice round in the tracker store at ``url`` (any SQLAlchemy URL), oldest first.

    Only SELECTs; a SQLite file is opened read-only so a wrong path never creates an empty database.
    """
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("events"):
                raise ReportError(f"{shown_url(url)} has no 'events' table: it is not a Rasa SQL tracker store, or it is empty")
            rows = connection.execute(
                sa.select(EVENTS.c.id, EVENTS.c.sender_id, EVENTS.c.timestamp, EVENTS.c.data)
                .where(EVENTS.c.type_name == "slot", EVENTS.c.action_name == RESULT_SLOT)
                .order_by(EVENTS.c.id)
            ).all()
    except sa.exc.SQLAlchemyError as error:
        reason = getattr(error, "orig", None) or error
        raise ReportError(f"cannot read the tracker store {shown_url(url)}: {str(reason).strip()}") from error
    finally:
        engine.dispose()
    attempts = [a for a in (_attempt(*row) for row in rows) if a is not None]
    return sorted(attempts, key=lambda a: a.timestamp)


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
        if attempt.mode == "prosecute":
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
        if attempt.mode == "prosecute" or not attempt.scored:
            continue
        tries[attempt.claim] += 1
        misses.update((attempt.claim, kp) for kp in set(attempt.missed))
    found = [Missed(claim, kp, labels.key_point(kp), n, tries[claim]) for (claim, kp), n in misses.items()]
    return sorted(found, key=lambda m: (-m.rate, -m.missed, m.claim, m.key_point))


def coverage_chart(stats: list[PointStats], students: int, labels: Labels) -> bytes:
    """A horizontal bar per claim: how many students practised it (PNG bytes)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    names = [labels.claim(s.key) for s in stats]
    counts = [s.students for s in stats]
    narrative = [labels.point(s.key) is not None for s in stats]
    colours = ["#2b6cb0" if n else "#9f7aea" for n in narrative]
    figure = Figure(figsize=(8.5, 0.42 * len(stats) + 1.6), dpi=110, layout="constrained")
    axes = figure.subplots()
    bars = axes.barh(range(len(stats)), counts, color=colours, height=0.65)
    axes.set_yticks(range(len(stats)), names)
    axes.invert_yaxis()
    axes.bar_label(bars, labels=[f"{c} of {students}" for c in counts], padding=4, fontsize=9)
    axes.set_xlim(0, max(students, 1) * 1.18)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("students who practised the point (defended it or raised it in a prosecution)")
    axes.set_title(f"Coverage per point: {students} student{'s' if students != 1 else ''}", loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(
        handles=[
            Patch(color="#2b6cb0", label=f"the {len(labels.knowledge.narrative)} points"),
            Patch(color="#9f7aea", label="further positions"),
        ],
        loc="lower right",
        frameon=False,
        fontsize=9,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _cell(value: object) -> str:
    """Neutralises spreadsheet formulas: a sender id is typed by whoever calls the REST channel."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(attempts: list[Attempt], labels: Labels, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for a in attempts:
            point = labels.point(a.claim) if a.claim else None
            writer.writerow(
                _cell(v)
                for v in (
                    a.student, a.date, a.claim, point, a.mode, a.score, a.total,
                    " ".join(a.made), " ".join(a.missed), str(a.copied).lower(), str(a.off_topic).lower(),
                )
            )


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{round(100 * share)}%"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ids(ids: Iterable[str], describe: Callable[[str], str], name: Callable[[str], str] = str) -> str:
    return ", ".join(f'<span class="kp" title="{_e(describe(i))}">{_e(name(i))}</span>' for i in ids) or "–"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a202c;max-width:72rem;margin:2rem auto;padding:0 1.2rem}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #cbd5e0;padding-bottom:.2rem;margin-top:2.2rem}
h3{margin:1.6rem 0 .4rem}.meta,.note{color:#4a5568}.note{font-size:.9rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}
th,td{border-bottom:1px solid #e2e8f0;padding:.35rem .55rem;text-align:left;vertical-align:top}
th{background:#edf2f7;font-weight:600}td.n,th.n{text-align:right;white-space:nowrap}
tr.prosecute td{background:#faf5ff}td.date{white-space:nowrap}.kp{border-bottom:1px dotted #718096;cursor:help}
.flag{background:#fed7d7;color:#822727;border-radius:3px;padding:0 .3rem;font-size:.85rem}
section.student{border:1px solid #e2e8f0;border-radius:6px;padding:.2rem 1rem .6rem;margin:1rem 0}
nav a{margin-right:.8rem}img{max-width:100%;height:auto}
"""


def _class_section(stats: list[PointStats], missed: list[Missed], chart: bytes, labels: Labels, students: int) -> str:
    rows = "".join(
        f"<tr><td>{_e(labels.claim(s.key))}</td><td class=n>{s.students} of {students}</td><td class=n>{s.attempts}</td>"
        f"<td class=n>{'–' if s.mean_score is None else f'{s.mean_score:.1f} of {s.total}'}</td>"
        f"<td class=n>{_percent(s.average)}</td><td class=n>{s.raised}</td></tr>"
        for s in stats
    )
    worst = "".join(
        f"<tr><td>{_e(labels.claim(m.claim))}</td><td>{_e(m.key_point)}</td><td>{_e(m.text)}</td>"
        f"<td class=n>{m.missed} of {m.attempts}</td><td class=n>{_percent(m.rate)}</td></tr>"
        for m in missed[:TOP_MISSED]
    )
    worst_table = (
        "<table><tr><th>Point</th><th>Key point</th><th>What the answer should have said</th>"
        f"<th class=n>Missed in</th><th class=n>Rate</th></tr>{worst}</table>"
        if worst
        else "<p class=note>No key point has been missed yet.</p>"
    )
    picture = base64.b64encode(chart).decode("ascii")
    return (
        "<h2>Class</h2>"
        "<h3>Coverage per point</h3>"
        f'<img src="data:image/png;base64,{picture}" alt="Bar chart: students who practised each point">'
        "<table><tr><th>Point</th><th class=n>Students</th><th class=n>Defences</th>"
        "<th class=n>Average key points made</th><th class=n>Class average</th><th class=n>Raised in prosecutions</th></tr>"
        f"{rows}</table>"
        "<p class=note>Students: those who defended the point or raised it while prosecuting. Averages are over every "
        "defence of the point; a prosecution has no key-point score.</p>"
        f"<h3>Most-missed key points</h3>{worst_table}"
        "<p class=note>Rate: defences of the claim that left the key point out, out of all defences of that claim "
        "(answers flagged as copied or off topic included).</p>"
    )


def _attempt_row(a: Attempt, labels: Labels) -> str:
    if a.mode == "prosecute":
        return (
            f"<tr class=prosecute><td class=date>{_e(_when(a.timestamp))}</td><td>prosecution</td>"
            f"<td>argued for {_e(labels.knowledge.thesis)}</td>"
            f"<td class=n>–</td><td>raised: {_ids(a.made, labels.claim, labels.short)}</td>"
            f"<td>left out: {_ids(a.missed, labels.claim, labels.short)}</td>"
            "<td></td></tr>"
        )
    flags = " ".join(f"<span class=flag>{name}</span>" for name, on in (("copied", a.copied), ("off topic", a.off_topic)) if on)
    return (
        f"<tr><td class=date>{_e(_when(a.timestamp))}</td><td>{_e(a.mode)}</td><td>{_e(labels.claim(a.claim))}</td>"
        f"<td class=n>{_e(a.score)} of {_e(a.total)}</td><td>{_ids(a.made, labels.key_point)}</td>"
        f"<td>{_ids(a.missed, labels.key_point)}</td><td>{flags}</td></tr>"
    )


def _student_section(number: int, student: str, attempts: list[Attempt], labels: Labels) -> str:
    seen = {k for a in attempts for k in a.practised}
    practised = [k for k in labels.order(seen) if k in seen]
    best: dict[str, Attempt] = {}
    for a in attempts:
        if a.mode != "prosecute" and a.scored and (a.claim not in best or a.share > best[a.claim].share):
            best[a.claim] = a
    tries = Counter(a.claim for a in attempts if a.mode != "prosecute")
    best_rows = "".join(
        f"<tr><td>{_e(labels.claim(k))}</td><td class=n>{best[k].score} of {best[k].total}</td>"
        f"<td class=n>{_percent(best[k].share)}</td><td class=n>{tries[k]}</td></tr>"
        for k in labels.order(best)
        if k in best
    )
    best_table = (
        "<table><tr><th>Point</th><th class=n>Best score</th><th class=n>Best %</th><th class=n>Defences</th></tr>"
        f"{best_rows}</table>"
        if best_rows
        else ""
    )
    rows = "".join(_attempt_row(a, labels) for a in attempts)
    return (
        f'<section class=student id="student-{number}"><h3>{_e(student)}</h3>'
        f"<p><b>Points practised:</b> {', '.join(_e(labels.claim(k)) for k in practised) or '–'}</p>"
        f"{best_table}"
        "<table><tr><th>Date</th><th>Round</th><th>Point</th><th class=n>Score</th><th>Made</th><th>Missed</th>"
        f"<th></th></tr>{rows}</table></section>"
    )


def build_report(
    attempts: list[Attempt],
    knowledge: Knowledge,
    out_dir: Path,
    hash_ids: bool,
    salt: str,
    *,
    source: str | None = None,
) -> Path:
    """Write ``report.html`` (self-contained), ``attempts.csv`` and ``coverage.png`` to ``out_dir``; return the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if hash_ids:
        attempts = [replace(a, student=pseudonym(a.student, salt)) for a in attempts]
    attempts = sorted(attempts, key=lambda a: (a.student, a.timestamp))
    labels = Labels(knowledge)
    by_student: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_student[a.student].append(a)

    stats = point_stats(attempts, labels)
    chart = coverage_chart(stats, len(by_student), labels)
    (out_dir / "coverage.png").write_bytes(chart)
    write_csv(attempts, labels, out_dir / "attempts.csv")

    defences = sum(a.mode != "prosecute" for a in attempts)
    attempts_by_time = sorted(attempts, key=lambda a: a.timestamp)
    span = ""
    if attempts:
        span = f" · {_when(attempts_by_time[0].timestamp)[:10]} to {_when(attempts_by_time[-1].timestamp)[:10]}"
    meta = (
        f"{_plural(len(by_student), 'student')} · {_plural(len(attempts), 'practice round')} "
        f"({_plural(defences, 'defence')}, {_plural(len(attempts) - defences, 'prosecution')})"
        f"{span} · generated {datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC')}"
        + (f" from {_e(source)}" if source else "")
        + (" · student ids are salted hashes" if hash_ids else "")
    )
    nav = " ".join(f'<a href="#student-{n}">{_e(s)}</a>' for n, s in enumerate(by_student, 1))
    students = "".join(_student_section(n, s, rows, labels) for n, (s, rows) in enumerate(by_student.items(), 1))
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Debate practice report</title><style>{_STYLE}</style></head><body>"
        f"<h1>Debate practice report</h1><p class=meta>{meta}</p>"
        + _class_section(stats, most_missed(attempts, labels), chart, labels, len(by_student))
        + "<h2>Students</h2>"
        + (f"<nav>{nav}</nav>{students}" if students else "<p class=note>No practice rounds recorded yet.</p>")
        + "<p class=note>Hover over a key point id to read it. Dates are in UTC. "
        "The same table is in attempts.csv beside this page.</p></body></html>\n"
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
