"""A file's SHA-256: what every manifest here (the trained weights, the index, the Rasa model) records."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["MANIFEST", "check_manifest", "sha256_of", "write_manifest"]

MANIFEST = "manifest.json"
UNHASHED = (MANIFEST, "README.md", "NOTICE")


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks so a large archive is never held in memory."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, record: dict) -> None:
    """``record`` with the SHA-256 of every file in ``folder`` but the manifest, the card and the notice."""
    files = {p.name: sha256_of(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name not in UNHASHED}
    (folder / MANIFEST).write_text(json.dumps({**record, "files": files}, indent=2) + "\n", encoding="utf-8")


def check_manifest(folder: Path, what: str, remedy: str, error: type[Exception] = FileNotFoundError) -> dict:
    """The folder's manifest, once every file it lists is present with the recorded hash; else ``error``."""
    manifest_path = Path(folder) / MANIFEST
    if not manifest_path.is_file():
        raise error(f"{what} is missing: no {manifest_path}; {remedy}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as failure:
        raise error(f"{manifest_path} is unreadable ({failure}); {remedy}") from failure
    for name, expected in files.items():
        path = Path(folder) / name
        if not path.is_file():
            raise error(f"{what} is incomplete: {path} is missing; {remedy}")
        if sha256_of(path) != expected:
            raise error(f"{path} is corrupt (its SHA-256 is not the manifest's); {remedy}")
    return manifest
