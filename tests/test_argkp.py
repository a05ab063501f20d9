"""The ArgKP-2021 data and the shared task's track-1 metric, on a hand-worked example and on the real files."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import average_precision_score

from bot.scoring.argkp import ArgKP, Group, average_precision, data_hashes, load_split, mean_average_precision
from bot.scoring.train import DATA_DIR


def example() -> ArgKP:
    pro = Group("t", 1, {f"a{i}": f"argument {i}" for i in range(1, 7)}, {"k1": "point one", "k2": "point two"})
    con = Group("t", -1, {"b1": "argument b1", "b2": "argument b2"}, {"k3": "point three"})
    labels = {("a1", "k1"): 1, ("a2", "k2"): 0, ("a2", "k1"): 1, ("a4", "k1"): 1, ("a5", "k2"): 1,
              ("b1", "k3"): 0, ("b2", "k3"): 1}
    return ArgKP([pro, con], labels)


PREDICTIONS = {
    "a1": {"k1": 0.9, "k2": 0.1},  # best k1, labelled 1
    "a2": {"k1": 0.2, "k2": 0.8},  # best k2, labelled 0 (its real point k1 scored lower)
    "a3": {"k1": 0.7},             # never labelled: wrong when strict, right when relaxed
    "a4": {"k1": 0.6},
    "a5": {"k2": 0.2},
    "b1": {"k3": 0.5},
    "b2": {"k3": 0.4},
}                                  # a6 has no prediction at all


def test_the_metric_on_a_hand_worked_example():
    figures = mean_average_precision(example(), PREDICTIONS)
    # pro: top half (3 of 6) by best score is a1 .9, a2 .8, a3 .7
    #   strict labels 1, 0, 0 -> AP 1.0; relaxed 1, 0, 1 -> 0.5 x 1 + 0.5 x 2/3 = 0.8333
    # con: top half (1 of 2) is b1, labelled 0 -> AP 0 both ways
    assert figures.groups[("t", 1)] == pytest.approx((1.0, 5 / 6))
    assert figures.groups[("t", -1)] == pytest.approx((0.0, 0.0))
    assert figures.strict == pytest.approx(0.5) and figures.relaxed == pytest.approx(5 / 12)


def test_an_argument_without_scores_counts_as_a_wrong_match():
    data = ArgKP([Group("t", 1, {"a": "x", "b": "y"}, {"k": "z"})], {("a", "k"): 1, ("b", "k"): 1})
    figures = mean_average_precision(data, {"b": {}}, top=1.0)
    # a has no prediction: score 0, label 0 (kept at 0.99 in the ranking, as the official script does)
    assert figures.strict == pytest.approx(0.0)
    assert mean_average_precision(data, {"a": {"k": 0.3}, "b": {"k": 0.2}}, top=1.0).strict == 1.0


def test_average_precision_is_scikit_learns_ties_included():
    assert average_precision([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.1]) == pytest.approx(2 / 3)
    assert average_precision([0, 0], [0.4, 0.3]) == 0.0
    rng = random.Random(7)
    for _ in range(50):
        n = rng.randint(2, 40)
        labels = [rng.randint(0, 1) for _ in range(n)]
        if not any(labels):
            labels[0] = 1
        scores = [round(rng.random(), 1) for _ in range(n)]  # rounding makes ties
        assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores))


def test_the_shared_splits_load_whole():
    train, dev = load_split(DATA_DIR, "train"), load_split(DATA_DIR, "dev")
    assert len(train.labels) + len(dev.labels) == 24093
    assert len({g.topic for g in train.groups}) == 24 and len({g.topic for g in dev.groups}) == 4
    assert set(data_hashes(DATA_DIR, ["dev"])) == {"arguments_dev.csv", "key_points_dev.csv", "labels_dev.csv"}
    text, point, label = dev.pairs()[0]
    assert text and point and label in (0, 1)
