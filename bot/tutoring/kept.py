"""Derived tables kept in ``build/`` between starts: read only when whole, written atomically.

What the judge works out at start-up (each key point's evidence, the judged sentences of
passages) is the same on every start until the key points, the essay or the judge change.
Callers key a record by those; here it is only read and written, never trusted when unreadable.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["judge_fingerprint", "judge_identity", "read_kept", "write_kept"]

_log = logging.getLogger(__name__)


def judge_fingerprint(judge: Any) -> str:
    """What identifies a judge's weights (``cosine`` without one), so a retrained judge invalidates what it decided."""
    if judge is None:
        return "cosine"
    fingerprint = getattr(judge, "fingerprint", None)
    return fingerprint() if fingerprint else type(judge).__name__


def judge_identity(judge: Any) -> str:
    """What identifies a judge's weights whatever precision it computes in (``judge_fingerprint`` without one)."""
    identity = getattr(judge, "identity", None)
    return identity() if identity else judge_fingerprint(judge)


def read_kept(path: Path | None) -> dict | None:
    """The JSON object at ``path``; None when there is none or it is unreadable (logged)."""
    if path is None or not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict):
        _log.warning("unreadable %s: it is worked out again", path)
        return None
    return record


def write_kept(path: Path | None, record: dict) -> None:
    """Write ``record`` to ``path`` through a temporary file of this process's own, so two servers
    starting together cannot interleave; a failure is logged, never raised (it only costs time)."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(record) + "\n", encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        _log.warning("could not keep %s: %s", path, error)
