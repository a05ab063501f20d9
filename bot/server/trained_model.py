"""The trained Rasa model: shipped in ``models/tutor/`` so a fresh clone need not train it.

Training takes 13 to 21 minutes on two cores (21.4 on 2026-12-02), most of a fresh ``make test``. The model
that ``make train`` produced for the committed data ships beside the matcher's weights, with a
manifest naming the fingerprint of every input of ``rasa train``. ``ensure_model`` uses the
build copy if it is current, else the shipped copy if it is current and intact, else trains
and ships the result; a changed input therefore always means a retrained model, never a stale one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.files import sha256_of
from bot.settings import BUILD_DIR, ROOT

__all__ = [
    "BUILD_MODEL",
    "SHIPPED_DIR",
    "TRAINING_INPUTS",
    "Status",
    "ensure_model",
    "input_files",
    "training_fingerprint",
]

BUILD_MODEL = BUILD_DIR / "models" / "tutor.tar.gz"
SHIPPED_DIR = ROOT / "models" / "tutor"
ARCHIVE = "tutor.tar.gz"
MANIFEST = "manifest.json"

#: Everything ``rasa train`` reads (the config, the domain, the training data, the custom
#: components' code) and the pins that decide which Rasa and TensorFlow train it.
TRAINING_INPUTS = (
    "config.yml",
    "domain.yml",
    "data/**/*.yml",
    "bot/nlu/**/*.py",
    "requirements.lock",
    "requirements-rasa.txt",
)


def input_files(root: Path = ROOT, patterns: Iterable[str] = TRAINING_INPUTS) -> list[Path]:
    """The training inputs present under ``root``, sorted, each once."""
    found = {path for pattern in patterns for path in root.glob(pattern) if path.is_file()}
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def training_fingerprint(root: Path = ROOT, patterns: Iterable[str] = TRAINING_INPUTS) -> dict[str, str]:
    """``{relative path: sha256}`` of every training input: equal fingerprints, same training."""
    return {path.relative_to(root).as_posix(): sha256_of(path) for path in input_files(root, patterns)}


def _read_manifest(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _current(archive: Path, manifest: Path, fingerprint: dict[str, str]) -> dict | None:
    """The manifest, if the archive was trained from these inputs and is the very file it hashed."""
    record = _read_manifest(manifest)
    if (
        record is not None
        and record.get("inputs") == fingerprint
        and archive.is_file()
        and record.get("archive_sha256") == sha256_of(archive)
    ):
        return record
    return None


def _manifest(archive: Path, fingerprint: dict[str, str], seconds: float | None) -> dict:
    record = {
        "archive": ARCHIVE,
        "archive_sha256": sha256_of(archive),
        "archive_bytes": archive.stat().st_size,
        "command": "make train",
        "inputs": fingerprint,
    }
    if seconds is not None:
        record["training_seconds"] = round(seconds)
    return record


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def rasa_train(out: Path) -> None:
    """Stock ``rasa train`` into ``out``'s folder, under ``out``'s name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "rasa", "train", "--fixed-model-name", out.name.removesuffix(".tar.gz"),
               "--out", str(out.parent)]
    subprocess.run(command, cwd=ROOT, check=True)


@dataclass(frozen=True)
class Status:
    """What ``ensure_model`` did: ``current``, ``shipped`` (copied) or ``trained``."""

    action: str
    message: str


def ensure_model(
    build_model: Path = BUILD_MODEL,
    shipped_dir: Path = SHIPPED_DIR,
    root: Path = ROOT,
    train: Callable[[Path], None] = rasa_train,
    force: bool = False,
) -> Status:
    """Make ``build_model`` the model of the inputs under ``root``, training only when no copy is current."""
    fingerprint = training_fingerprint(root)
    build_manifest = build_model.with_suffix("").with_suffix(".json")
    shipped_archive, shipped_manifest = shipped_dir / ARCHIVE, shipped_dir / MANIFEST
    if not force and _current(build_model, build_manifest, fingerprint):
        return Status("current", f"the model in {build_model} is up to date")
    shipped = None if force else _current(shipped_archive, shipped_manifest, fingerprint)
    if shipped:
        build_model.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shipped_archive, build_model)
        _write(build_manifest, shipped)
        return Status("shipped", f"using the shipped model {shipped_archive} (trained from these inputs)")
    started = time.perf_counter()
    train(build_model)
    seconds = time.perf_counter() - started
    record = _manifest(build_model, fingerprint, seconds)
    _write(build_manifest, record)
    shipped_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(build_model, shipped_archive)
    _write(shipped_manifest, record)
    return Status(
        "trained",
        f"trained {build_model} in {seconds / 60:.1f} min and shipped it to {shipped_dir}: "
        "commit it so a fresh clone need not train",
    )
