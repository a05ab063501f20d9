"""A file's SHA-256: what every manifest here (the judge's weights, the index, the Rasa model) records."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["sha256_of"]


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks so a large archive is never held in memory."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
