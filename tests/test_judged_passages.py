"""The shipped table of judged passages (models/judged-passages/) fits the index and key points as they are."""

from __future__ import annotations

from bot.cli import main
from bot.settings import JUDGED_PASSAGES


def test_every_passage_is_judged_for_every_claim_and_charge(tutor):
    missing = tutor.unjudged()
    assert not missing, (f"{JUDGED_PASSAGES} lacks {len(missing)} judgements, e.g. {missing[:3]}: "
                         "run make judge-passages and commit it")


def test_a_start_from_the_shipped_table_judges_no_passage(tutor, tmp_path):
    from bot.tutoring.tutor import Tutor

    fresh = Tutor(tutor.retriever, tutor.focuser.judge, tutor.focuser.threshold)
    assert fresh.warm(cache=tmp_path / "focus.json") == len(tutor.asked())
    assert fresh.focuser.fresh == 0
    assert not (tmp_path / "focus.json").exists()  # nothing new to keep


def test_a_table_without_the_current_passages_is_refused_by_the_check(tutor, tmp_path, capsys):
    assert main(["judge-passages", "--check"]) == 0
    assert "covers every passage" in capsys.readouterr().out
    stale = tmp_path / "support.json"
    stale.write_text('{"judge": "other weights", "shortlist": 3, "support": {}}', encoding="utf-8")
    missing = tutor.unjudged(stale)
    assert {(claim, charge) for _, claim, charge in missing} == {(c, h) for c, h, _ in tutor.asked()}
    assert len({passage for passage, _, _ in missing}) >= len(tutor.retriever.index) - 5
