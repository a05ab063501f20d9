"""The shipped Rasa model: used when it was trained from these inputs, retrained the moment one changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.server.serve import check_model
from bot.server.trained_model import (
    SHIPPED_DIR,
    TRAINING_INPUTS,
    ensure_model,
    input_files,
    training_fingerprint,
)
from bot.settings import ROOT


class Trainer:
    """Stands in for ``rasa train`` (thirteen minutes) and counts its runs; each run writes a new archive."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, out: Path) -> None:
        self.runs += 1
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(f"model #{self.runs}".encode())


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "data" / "nlu").mkdir(parents=True)
    (root / "bot" / "nlu").mkdir(parents=True)
    (root / "config.yml").write_text("pipeline: []\n")
    (root / "domain.yml").write_text("intents: [greet]\n")
    (root / "data" / "nlu" / "greet.yml").write_text("nlu: []\n")
    (root / "bot" / "nlu" / "component.py").write_text("X = 1\n")
    (root / "README.md").write_text("not an input\n")
    return root


def paths(root: Path) -> tuple[Path, Path]:
    return root / "build" / "models" / "tutor.tar.gz", root / "models" / "tutor"


def test_a_fresh_clone_trains_once_then_uses_its_model(project):
    build, shipped = paths(project)
    train = Trainer()
    first = ensure_model(build, shipped, project, train)
    assert (first.action, train.runs) == ("trained", 1)
    assert (shipped / "tutor.tar.gz").read_bytes() == build.read_bytes() == b"model #1"
    assert ensure_model(build, shipped, project, train).action == "current"
    shutil.rmtree(project / "build")
    again = ensure_model(build, shipped, project, train)
    assert (again.action, train.runs, build.read_bytes()) == ("shipped", 1, b"model #1")


@pytest.mark.parametrize("changed", ["config.yml", "domain.yml", "data/nlu/greet.yml", "bot/nlu/component.py"])
def test_any_changed_input_retrains_and_reships(project, changed):
    build, shipped = paths(project)
    train = Trainer()
    ensure_model(build, shipped, project, train)
    with (project / changed).open("a") as handle:
        handle.write("# changed\n")
    status = ensure_model(build, shipped, project, train)
    assert (status.action, train.runs) == ("trained", 2)
    assert (shipped / "tutor.tar.gz").read_bytes() == b"model #2"
    manifest = json.loads((shipped / "manifest.json").read_text())
    assert manifest["inputs"] == training_fingerprint(project)


def test_an_added_training_file_retrains(project):
    build, shipped = paths(project)
    train = Trainer()
    ensure_model(build, shipped, project, train)
    (project / "data" / "nlu" / "more.yml").write_text("nlu: []\n")
    assert ensure_model(build, shipped, project, train).action == "trained"


def test_a_file_that_is_not_an_input_changes_nothing(project):
    build, shipped = paths(project)
    train = Trainer()
    ensure_model(build, shipped, project, train)
    (project / "README.md").write_text("edited\n")
    assert (ensure_model(build, shipped, project, train).action, train.runs) == ("current", 1)


def test_a_damaged_build_copy_is_replaced_by_the_shipped_one(project):
    build, shipped = paths(project)
    train = Trainer()
    ensure_model(build, shipped, project, train)
    build.write_bytes(b"truncat")
    status = ensure_model(build, shipped, project, train)
    assert (status.action, train.runs, build.read_bytes()) == ("shipped", 1, b"model #1")


def test_a_damaged_shipped_copy_is_never_used(project):
    build, shipped = paths(project)
    train = Trainer()
    ensure_model(build, shipped, project, train)
    shutil.rmtree(project / "build")
    (shipped / "tutor.tar.gz").write_bytes(b"model #1 but altered")
    assert (ensure_model(build, shipped, project, train).action, train.runs) == ("trained", 2)


def test_force_trains_even_when_current(project):
    build, shipped = paths(project)
    train = Trainer()
    ensure_model(build, shipped, project, train)
    assert ensure_model(build, shipped, project, train, force=True).action == "trained"


def test_the_inputs_are_every_file_rasa_train_reads_here():
    names = {path.relative_to(ROOT).as_posix() for path in input_files(ROOT)}
    assert {"config.yml", "domain.yml", "requirements.lock"} <= names
    data = {path.relative_to(ROOT).as_posix() for path in (ROOT / "data").rglob("*") if path.is_file()}
    assert data and data <= names
    assert any(name.startswith("bot/nlu/") for name in names)
    assert not any(pattern.startswith("tests") for pattern in TRAINING_INPUTS)


def test_the_shipped_model_was_trained_from_the_committed_inputs():
    """Fails after a change to the data until `make train` has retrained and re-shipped the model."""
    manifest = json.loads((SHIPPED_DIR / "manifest.json").read_text())
    assert manifest["inputs"] == training_fingerprint(ROOT), "models/tutor/ is stale: run `make train` and commit it"
    archive = SHIPPED_DIR / manifest["archive"]
    assert archive.stat().st_size == manifest["archive_bytes"]
    check_model(archive)
