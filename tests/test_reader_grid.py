"""The counter-argument reader's threshold grid: counted as defined, and the rule picks as written."""

from __future__ import annotations

import pytest

from bot.settings import ROOT
from bot.tools.reader_grid import READER, Reading, grid, judged, reader_settings, without_reader


def readings() -> list[Reading]:
    return [
        # claims read correctly: b is lost once the confidence bound passes 0.85
        Reading("a", "claim_one", "claim_one", 0.6, 0.7),
        Reading("b", "claim_one", "claim_one", 0.85, 0.97),
        Reading("c", "claim_two", "claim_two", 0.99, 0.99),  # confident: never judged away
        # a claim already read as another claim: moving it costs nothing the figures count
        Reading("g", "claim_two", "claim_one", 0.4, 0.99),
        # essay-side messages read as a claim, and one read right
        Reading("d", "agree_discontinuity", "claim_one", 0.5, 0.96),
        Reading("e", "agree_discontinuity", "claim_two", 0.75, 0.92),
        Reading("h", "agree_discontinuity", "claim_two", 0.7, 0.93),
        Reading("i", "agree_discontinuity", "claim_one", 0.85, 0.97),
        Reading("j", "out_of_scope", "claim_one", 0.88, 0.98),
        Reading("f", "agree_discontinuity", "agree_discontinuity", 0.9, 0.0),
    ]


GRID = {"key_points": (0.9, 0.95), "confidences": (0.8, 0.9)}


def test_every_cell_counts_claims_lost_and_non_claims_moved_out():
    cells, _ = grid(readings(), **GRID, max_claim_loss=1.0)
    table = {(c.key_point_threshold, c.below_confidence): (c.claims_lost, c.non_claims_moved) for c in cells}
    assert table == {(0.9, 0.8): (0, 3), (0.9, 0.9): (1, 5), (0.95, 0.8): (0, 1), (0.95, 0.9): (1, 3)}
    wide = next(c for c in cells if (c.key_point_threshold, c.below_confidence) == (0.9, 0.9))
    assert wide.claim_accuracy == pytest.approx(3 / 4 - 1 / 4)
    assert wide.rejection == pytest.approx(1 / 6 + 5 / 6)


def test_the_rule_takes_the_best_net_gain_within_the_allowed_claim_loss():
    _, chosen = grid(readings(), **GRID, max_claim_loss=0.0)
    assert (chosen.key_point_threshold, chosen.below_confidence) == (0.9, 0.8)
    _, chosen = grid(readings(), **GRID, max_claim_loss=0.25)
    assert (chosen.key_point_threshold, chosen.below_confidence) == (0.9, 0.9)


def test_ties_go_to_the_lower_confidence_bound():
    same = [Reading("d", "agree_discontinuity", "claim_one", 0.5, 0.96)]
    _, chosen = grid(same, key_points=(0.9,), confidences=(0.7, 0.6, 0.8))
    assert chosen.below_confidence == 0.6


def test_the_grid_is_scored_without_the_reader_and_with_the_rest_of_the_pipeline():
    import yaml

    shipped = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    assert READER in [c["name"] for c in shipped["pipeline"]]
    tuned = without_reader(ROOT / "config.yml")
    assert [c["name"] for c in tuned["pipeline"]] == [c["name"] for c in shipped["pipeline"] if c["name"] != READER]
    assert tuned["policies"] == shipped["policies"]


def test_the_grid_judges_with_the_readers_own_settings_and_key_points():
    assert reader_settings(ROOT / "config.yml") == {"below_confidence": 0.8, "key_point_threshold": 0.95}
    essay_side = ("Lenin was no would-be dictator: a man hungry for power would not have chosen a life of prison, "
                  "exile and isolation.")
    claim, other = judged([
        Reading(essay_side, "agree_discontinuity", "claim_authoritarian_personality", 0.6),
        Reading(essay_side, "agree_discontinuity", "agree_discontinuity", 0.6),
    ])
    assert claim.key_point >= 0.95
    assert other.key_point == 0.0
