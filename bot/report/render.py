"""The report as a teacher reads it: HTML from Jinja2 templates (autoescaped), the CSV, the files on disk."""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.essay.knowledge import Knowledge
from bot.report.chart import coverage_chart
from bot.report.load import Attempt, pseudonym
from bot.report.statistics import Labels, StudentSummary, by_student, most_missed, point_stats, student_summary

TEMPLATES = Path(__file__).resolve().parent / "templates"
TOP_MISSED = 10
CSV_FIELDS = ("student", "date", "claim", "point", "mode", "score", "total", "made", "missed", "copied", "off_topic")


def when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def percent(share: float | None) -> str:
    return "–" if share is None else f"{round(100 * share)}%"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@cache
def environment() -> Environment:
    """Every page this project renders for teachers: autoescaped, undefined names are errors."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=False,
    )
    env.filters.update(when=when, percent=percent, plural=plural)
    return env


@dataclass
class ClassView:
    """Everything a class report shows, worked out once."""

    labels: Labels
    attempts: list[Attempt]
    summaries: list[StudentSummary]
    stats: list
    missed: list
    chart: str  # base64 PNG

    @property
    def students(self) -> int:
        return len(self.summaries)


def class_view(attempts: list[Attempt], knowledge: Knowledge) -> ClassView:
    labels = Labels(knowledge)
    grouped = by_student(attempts)
    summaries = [student_summary(name, rows, labels) for name, rows in grouped.items()]
    stats = point_stats(attempts, labels)
    chart = base64.b64encode(coverage_chart(stats, len(summaries), labels)).decode("ascii")
    return ClassView(labels, attempts, summaries, stats, most_missed(attempts, labels), chart)


def _cell(value: object) -> str:
    """Neutralises spreadsheet formulas: a sender id is typed by whoever calls the REST channel."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(attempts: list[Attempt], labels: Labels) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for a in sorted(attempts, key=lambda a: (a.student, a.timestamp)):
        point = labels.point(a.claim) if a.claim else None
        writer.writerow(
            _cell(v)
            for v in (
                a.student, a.date, a.claim, point, a.mode, a.score, a.total,
                " ".join(a.made), " ".join(a.missed), str(a.copied).lower(), str(a.off_topic).lower(),
            )
        )
    return buffer.getvalue()


def meta_line(attempts: list[Attempt], students: int, hash_ids: bool, source: str | None = None) -> str:
    defences = sum(not a.prosecuted for a in attempts)
    span = ""
    if attempts:
        times = sorted(a.timestamp for a in attempts)
        span = f" · {when(times[0])[:10]} to {when(times[-1])[:10]}"
    return (
        f"{plural(students, 'student')} · {plural(len(attempts), 'practice round')} "
        f"({plural(defences, 'defence')}, {plural(len(attempts) - defences, 'prosecution')})"
        f"{span} · generated {datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC')}"
        + (f" from {source}" if source else "")
        + (" · student ids are salted hashes" if hash_ids else "")
    )


def build_report(
    attempts: list[Attempt],
    knowledge: Knowledge,
    out_dir: Path,
    hash_ids: bool,
    salt: str,
    *,
    source: str | None = None,
    title: str = "Debate practice report",
) -> Path:
    """Write ``report.html`` (self-contained), ``attempts.csv`` and ``coverage.png`` to ``out_dir``; return the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if hash_ids:
        attempts = [a.renamed(pseudonym(a.student, salt)) for a in attempts]
    view = class_view(attempts, knowledge)
    (out_dir / "coverage.png").write_bytes(base64.b64decode(view.chart))
    (out_dir / "attempts.csv").write_text(csv_text(attempts, view.labels), encoding="utf-8", newline="")
    page = environment().get_template("report.html").render(
        title=title,
        meta=meta_line(attempts, view.students, hash_ids, source),
        stats=view.stats,
        missed=view.missed,
        chart=view.chart,
        labels=view.labels,
        summaries=view.summaries,
        top_missed=TOP_MISSED,
    )
    path = out_dir / "report.html"
    path.write_text(page + "\n", encoding="utf-8")
    return path
