"""How the counter-argument reader's two thresholds were chosen: out-of-fold on ``data/nlu``, never on held-out sets.

The pipeline in ``config.yml`` without the reader is trained on four folds of the training data and
reads the fifth (Rasa itself, as ``rasa train`` would); the judge scores each message read as a claim
against that claim's key points; every pair of thresholds is then applied to the same numbers. The
rule, fixed before the grid was first scored (docs/nlu-pipelines.md, round 11): the most non-claims
moved out of the claims net of correct claims lost, among the pairs that cost at most
``MAX_CLAIM_LOSS`` of claim accuracy; ties go to the lower confidence bound (fewer judge calls).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.settings import BUILD_DIR, ROOT
from bot.tutoring.tutor import Tutor

READER = "bot.nlu.counter_argument_reader.CounterArgumentReader"
KEY_POINT_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
CONFIDENCE_GRID = (0.6, 0.7, 0.8, 0.9, 0.95, 1.01)
MAX_CLAIM_LOSS = 0.005
OUT = BUILD_DIR / "reader-grid"


@dataclass(frozen=True)
class Reading:
    """One training phrasing read out of fold: its label, the intent and confidence, and the judge's best key point."""

    text: str
    gold: str
    intent: str
    confidence: float
    key_point: float = 0.0


@dataclass(frozen=True)
class Cell:
    key_point_threshold: float
    below_confidence: float
    claims_lost: int
    non_claims_moved: int
    claim_accuracy: float
    rejection: float
    allowed: bool


def grid(
    readings: Sequence[Reading],
    key_points: Sequence[float] = KEY_POINT_GRID,
    confidences: Sequence[float] = CONFIDENCE_GRID,
    max_claim_loss: float = MAX_CLAIM_LOSS,
) -> tuple[list[Cell], Cell | None]:
    """Every pair of thresholds applied to the same readings, and the one the rule picks."""
    claims = [r for r in readings if Tutor.is_claim(r.gold)]
    others = [r for r in readings if not Tutor.is_claim(r.gold)]
    base_claims = sum(r.intent == r.gold for r in claims) / max(1, len(claims))
    base_rejection = sum(not Tutor.is_claim(r.intent) for r in others) / max(1, len(others))
    cells, chosen = [], None
    for threshold in key_points:
        for below in confidences:
            def moved(r: Reading, threshold: float = threshold, below: float = below) -> bool:
                return Tutor.is_claim(r.intent) and r.confidence < below and r.key_point >= threshold

            lost = sum(moved(r) and r.intent == r.gold for r in claims)
            gained = sum(moved(r) for r in others)
            accuracy = base_claims - lost / max(1, len(claims))
            cell = Cell(threshold, below, lost, gained, accuracy, base_rejection + gained / max(1, len(others)),
                        base_claims - accuracy <= max_claim_loss + 1e-12)
            cells.append(cell)
            if cell.allowed and (chosen is None or _net(cell) > _net(chosen)
                                 or (_net(cell) == _net(chosen) and below < chosen.below_confidence)):
                chosen = cell
    return cells, chosen


def _net(cell: Cell) -> int:
    return cell.non_claims_moved - cell.claims_lost


def without_reader(config: Path) -> dict:
    """The pipeline as ``config`` sets it, minus the reader whose thresholds are being chosen."""
    loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
    loaded["pipeline"] = [c for c in loaded["pipeline"] if c.get("name") != READER]
    return loaded


def out_of_fold(config: Path, data: Path, folds: int = 5, seed: int = 0) -> list[Reading]:
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from sklearn.model_selection import StratifiedKFold

    messages = load_data(str(data)).intent_examples
    labels = [m.get("intent") for m in messages]
    readings: list[Reading] = []
    split = StratifiedKFold(folds, shuffle=True, random_state=seed).split(messages, labels)
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Path(tmp) / "config.yml"
        pipeline.write_text(yaml.safe_dump(without_reader(config)), encoding="utf-8")
        for fold, (train, test) in enumerate(split):
            nlu = Path(tmp) / f"nlu-{fold}.yml"
            nlu.write_text(TrainingData(training_examples=[messages[i] for i in train]).nlu_as_yaml(), encoding="utf-8")
            agent = Agent.load(train_nlu(str(pipeline), str(nlu), str(Path(tmp) / "models"), fixed_model_name=f"fold{fold}"))
            parsed = asyncio.run(_parse(agent, [messages[i].get("text") for i in test]))
            readings += [Reading(messages[i].get("text"), labels[i], p["intent"]["name"], float(p["intent"]["confidence"]))
                         for i, p in zip(test, parsed, strict=True)]
            print(f"fold {fold + 1} of {folds} read", flush=True)
    return readings


async def _parse(agent, texts: Sequence[str]) -> list[dict]:
    return [await agent.parse_message(text) for text in texts]


def reader_settings(config: Path) -> dict:
    """The reader's own settings in ``config`` (claims file, judge), so the grid judges what it will judge."""
    loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
    entry = next((c for c in loaded["pipeline"] if c.get("name") == READER), {})
    return {key: value for key, value in entry.items() if key != "name"}


def judged(readings: list[Reading], settings: dict | None = None) -> list[Reading]:
    """Each reading with the reader's best key point score for its claim (0 for a reading that is no claim)."""
    from dataclasses import replace

    from bot.nlu.counter_argument_reader import CounterArgumentReader

    reader = CounterArgumentReader(settings or {})
    todo = [i for i, r in enumerate(readings) if r.intent in reader.key_points]
    best = reader.best_answers([(readings[i].text, readings[i].intent) for i in todo])
    scores = {i: score for i, (score, _) in zip(todo, best, strict=True)}
    return [replace(r, key_point=scores.get(i, 0.0)) for i, r in enumerate(readings)]


def main(config: Path = ROOT / "config.yml", data: Path = ROOT / "data" / "nlu", out: Path = OUT) -> Cell | None:
    readings = judged(out_of_fold(config, data), reader_settings(config))
    cells, chosen = grid(readings)
    out.mkdir(parents=True, exist_ok=True)
    (out / "readings.json").write_text(json.dumps([r.__dict__ for r in readings]), encoding="utf-8")
    print(f"{'key point':>9} {'below':>6} {'claims lost':>11} {'moved out':>9} {'claim acc':>9} {'rejection':>9}")
    for c in cells:
        mark = " <- chosen" if c == chosen else ("" if c.allowed else "  (costs too many claims)")
        print(f"{c.key_point_threshold:9.2f} {c.below_confidence:6.2f} {c.claims_lost:11d} {c.non_claims_moved:9d}"
              f" {c.claim_accuracy:9.3f} {c.rejection:9.3f}{mark}")
    return chosen
