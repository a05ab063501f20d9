"""The ArgKP-2021 key point matching data and the shared task's official track-1 metric.

The metric, as the KPA-2021 shared task defines it: each argument is paired with the key point
it scores highest; within each topic and stance the top half of arguments by that score is kept;
average precision is taken over them, with pairs the annotators never labelled counted as
non-matching (strict) or as matching (relaxed); the figure is the mean over topic/stance groups.
An argument with no score at all stands for a "no key point" answer: it counts as a wrong match.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "ArgKP",
    "Group",
    "MapFigures",
    "average_precision",
    "data_hashes",
    "load_split",
    "mean_average_precision",
]

FILES = ("arguments_{split}.csv", "key_points_{split}.csv", "labels_{split}.csv")


@dataclass(frozen=True)
class Group:
    """One topic and stance: its arguments and key points, by id."""

    topic: str
    stance: int
    arguments: dict[str, str]
    key_points: dict[str, str]


@dataclass(frozen=True)
class ArgKP:
    groups: list[Group]
    labels: dict[tuple[str, str], int]
    """(argument id, key point id) -> 1 matching / 0 not; pairs absent here were never labelled."""

    def pairs(self) -> list[tuple[str, str, int]]:
        """Every labelled (argument text, key point text, label), in the files' order."""
        argument = {a: text for g in self.groups for a, text in g.arguments.items()}
        point = {k: text for g in self.groups for k, text in g.key_points.items()}
        return [(argument[a], point[k], label) for (a, k), label in self.labels.items()]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def load_split(folder: Path, split: str) -> ArgKP:
    """``arguments_SPLIT.csv``, ``key_points_SPLIT.csv`` and ``labels_SPLIT.csv`` of ``folder``."""
    arguments, points, labels = (folder / name.format(split=split) for name in FILES)
    groups: dict[tuple[str, int], Group] = {}

    def group(row: dict[str, str]) -> Group:
        key = (row["topic"], int(row["stance"]))
        if key not in groups:
            groups[key] = Group(key[0], key[1], {}, {})
        return groups[key]

    for row in _rows(arguments):
        group(row).arguments[row["arg_id"]] = row["argument"]
    for row in _rows(points):
        group(row).key_points[row["key_point_id"]] = row["key_point"]
    gold = {(row["arg_id"], row["key_point_id"]): int(row["label"]) for row in _rows(labels)}
    return ArgKP(list(groups.values()), gold)


def data_hashes(folder: Path, splits: Iterable[str]) -> dict[str, str]:
    """SHA-256 of each file of the splits, so a model card says exactly what it was trained on."""
    out = {}
    for split in splits:
        for name in FILES:
            path = folder / name.format(split=split)
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def average_precision(labels: list[int], scores: list[float]) -> float:
    """Average precision as scikit-learn computes it: tied scores form one step of the curve.

    With no positive label it is 0: nothing was found because there was nothing right to find.
    """
    positives = sum(labels)
    if not positives:
        return 0.0
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    ranked_scores = np.asarray(scores, dtype=np.float64)[order]
    ranked_labels = np.asarray(labels, dtype=np.int64)[order]
    hits = np.cumsum(ranked_labels)
    seen = np.arange(1, len(ranked_labels) + 1)
    last_of_tie = np.r_[np.diff(ranked_scores) != 0, True]
    precision, recall = (hits / seen)[last_of_tie], (hits / positives)[last_of_tie]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


@dataclass(frozen=True)
class MapFigures:
    strict: float
    relaxed: float
    groups: dict[tuple[str, int], tuple[float, float]]


def mean_average_precision(
    data: ArgKP, predictions: Mapping[str, Mapping[str, float]], top: float = 0.5
) -> MapFigures:
    """The official figures of ``predictions`` ({argument id: {key point id: score}}) on ``data``."""
    per_group: dict[tuple[str, int], tuple[float, float]] = {}
    for group in data.groups:
        best = []
        for argument in group.arguments:
            scores = predictions.get(argument) or {}
            if scores:
                point, score = max(scores.items(), key=lambda item: item[1])
                best.append((score, data.labels.get((argument, point)), False))
            else:
                best.append((0.0, 0, True))
        best.sort(key=lambda b: -b[0])
        kept = best[: int(len(best) * top)]
        scores = [0.99 if dummy else score for score, _, dummy in kept]
        strict = [0 if label is None else label for _, label, _ in kept]
        relaxed = [1 if label is None else label for _, label, _ in kept]
        per_group[(group.topic, group.stance)] = (average_precision(strict, scores), average_precision(relaxed, scores))
    values = list(per_group.values())
    return MapFigures(
        strict=float(np.mean([s for s, _ in values])) if values else 0.0,
        relaxed=float(np.mean([r for _, r in values])) if values else 0.0,
        groups=per_group,
    )

