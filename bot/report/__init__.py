"""The teacher report of practice rounds: load them (``load``), work out the figures (``statistics``),
draw the coverage chart (``chart``) and render the page and CSV from Jinja2 templates (``render``)."""

from bot.report.load import Attempt, ReportError, default_salt, load_attempts, pseudonym, shown_url
from bot.report.render import build_report, class_view, csv_text

__all__ = [
    "Attempt", "ReportError", "build_report", "class_view", "csv_text", "default_salt", "load_attempts", "pseudonym",
    "shown_url",
]
