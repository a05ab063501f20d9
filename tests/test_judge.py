"""The trained key point judge: loaded offline from its manifest, refusing missing or altered files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bot.scoring.judge import JUDGE_DIR, MANIFEST, Judge, JudgeUnavailable, check_judge, resolve_precision
from bot.settings import ROOT


@pytest.fixture(scope="module")
def judge():
    return Judge()


def test_the_shipped_weights_match_their_manifest_and_card():
    manifest = check_judge()
    assert set(manifest["files"]) >= {"model.safetensors", "config.json", "tokenizer.json"}
    assert (JUDGE_DIR / "model.safetensors").stat().st_size < 60 * 2**20
    card = (JUDGE_DIR / "README.md").read_text(encoding="utf-8")
    for needed in ("base model", "ArgKP-2021", "seed", "dev mAP strict / relaxed", "make train-matcher"):
        assert needed in card
    assert "Community Data License Agreement" in (JUDGE_DIR / "NOTICE").read_text(encoding="utf-8")
    assert manifest["dev"]["strict"] > manifest["baseline_dev"]["strict"]


def test_the_judge_tells_a_point_made_from_a_point_not_made(judge):
    point = "School uniform reduces bullying"
    scores = judge.score([
        ("With uniforms there is less bullying, since no one stands out.", point),
        ("Uniforms cost families a lot of money every year.", point),
    ])
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert scores[0] > 0.5 > scores[1]
    assert judge.score([]).shape == (0,)


PAIRS = [
    ("With uniforms there is less bullying, since no one stands out.", "School uniform reduces bullying"),
    ("Uniforms cost families a lot of money every year.", "School uniform reduces bullying"),
    ("The death penalty was abolished straight after the revolution.", "The new government was not bent on terror"),
]


def test_bfloat16_changes_the_arithmetic_not_the_verdicts():
    """bfloat16 really runs (its scores are not float32's to the last bit) and stays within what
    docs/matcher.md measured on ArgKP dev (largest change 0.04)."""
    exact = Judge(precision="float32").score(PAIRS)
    fast = Judge(precision="bfloat16").score(PAIRS)
    assert not np.array_equal(exact, fast)
    assert np.abs(exact - fast).max() < 0.05
    assert ((exact >= 0.5) == (fast >= 0.5)).all()


def test_the_precision_is_part_of_the_fingerprint_and_checked():
    assert Judge(precision="float32").fingerprint() != Judge(precision="bfloat16").fingerprint()
    assert resolve_precision("auto") in {"bfloat16", "float32"}
    with pytest.raises(ValueError, match=r"unknown judge precision 'half'.*auto, bfloat16, float32"):
        Judge(precision="half")


def test_the_setting_picks_the_precision(monkeypatch):
    monkeypatch.setenv("TUTOR_SCORING_PRECISION", "Float32")
    assert Judge().precision == "float32"
    monkeypatch.setenv("TUTOR_SCORING_PRECISION", "bfloat16")
    assert Judge().precision == "bfloat16"


@pytest.fixture
def copy(tmp_path):
    folder = tmp_path / "judge"
    shutil.copytree(JUDGE_DIR, folder)
    return folder


def test_a_missing_manifest_is_refused_naming_the_file_and_the_remedy(copy):
    (copy / MANIFEST).unlink()
    with pytest.raises(JudgeUnavailable, match=r"manifest\.json.*make train-matcher"):
        Judge(copy).score([("a", "b")])


def test_a_missing_or_altered_weight_file_is_refused(copy):
    (copy / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(JudgeUnavailable, match=r"tokenizer_config\.json is corrupt.*make train-matcher"):
        check_judge(copy)
    (copy / "model.safetensors").unlink()
    with pytest.raises(JudgeUnavailable, match=r"model\.safetensors is missing"):
        check_judge(copy)


def test_a_judge_hashes_its_files_once_however_often_it_is_checked_and_loaded(copy, monkeypatch):
    import bot.scoring.judge as module

    calls = []
    monkeypatch.setattr(module, "check_judge", lambda folder: calls.append(folder) or {"files": {}, "name": "x"})
    judge = Judge(copy)
    judge.check()
    judge.check()
    judge.score([("a", "b")])
    assert calls == [copy]


def test_an_unreadable_manifest_is_refused(copy):
    (copy / MANIFEST).write_text(json.dumps({"no": "files"}), encoding="utf-8")
    with pytest.raises(JudgeUnavailable, match="unreadable"):
        check_judge(copy)


@pytest.mark.command
def test_bot_match_refuses_without_weights_instead_of_falling_back(tmp_path):
    points = tmp_path / "kp.yml"
    points.write_text("k1: School uniform reduces bullying\n", encoding="utf-8")
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"id": "t1", "text": "Nobody is picked on for their clothes."}\n', encoding="utf-8")
    env = {**os.environ, "TUTOR_JUDGE_DIR": str(tmp_path / "nowhere"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "match", "--key-points", str(points), "--texts", str(texts)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert "make train-matcher" in result.stderr and "manifest.json" in result.stderr


def test_out_of_fold_scores_are_used_only_for_the_rebuttals_they_were_made_from(tmp_path):
    from bot.scoring.calibrate import REBUTTALS, load_rebuttals, out_of_fold

    rebuttals = load_rebuttals()
    held_out = out_of_fold(JUDGE_DIR, REBUTTALS, rebuttals)
    assert held_out is not None, "make train-matcher keeps out-of-fold scores for the shipped rebuttals"
    assert {p.rebuttal for p in held_out} == set(range(len(rebuttals)))
    assert all(0.0 <= p.score <= 1.0 for p in held_out)
    edited = tmp_path / REBUTTALS.name
    edited.write_text(REBUTTALS.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert out_of_fold(JUDGE_DIR, edited, rebuttals) is None


def test_the_scoring_record_names_the_judge_and_cross_validated_figures():
    from bot.scoring.matcher import load_scoring

    scoring = load_scoring()
    assert "key-point-matcher" in scoring.record["model"]
    assert scoring.shortlist == scoring.record["shortlist"]
    assert scoring.record["cross_validated"]["folds"] == 5


@pytest.mark.command
def test_bot_kpa_gives_a_row_per_precision_and_refuses_an_unknown_one(tmp_path):
    """A two-argument split written here, so the command runs in seconds: float32, bfloat16 and the
    zero-shot row, each with the official metric (both arguments matched right: 1.000)."""
    topic = "We should ban cars"
    (tmp_path / "arguments_mini.csv").write_text(
        "arg_id,argument,topic,stance\n"
        f"a1,Cars fill the air with fumes that make children ill.,{topic},1\n"
        f"a2,Every year thousands die on the roads.,{topic},1\n", encoding="utf-8")
    (tmp_path / "key_points_mini.csv").write_text(
        "key_point_id,key_point,topic,stance\n"
        f"k1,Cars pollute the air,{topic},1\n"
        f"k2,Cars cause deadly accidents,{topic},1\n", encoding="utf-8")
    (tmp_path / "labels_mini.csv").write_text(
        "arg_id,key_point_id,label\na1,k1,1\na1,k2,0\na2,k1,0\na2,k2,1\n", encoding="utf-8")
    command = [sys.executable, "-m", "bot", "kpa", "--data", str(tmp_path), "--split", "mini"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([*command, "--precision", "float32,bfloat16", "trained", "zero-shot"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {line.rsplit(None, 2)[0]: line.split()[-2:] for line in result.stdout.splitlines()[2:]}
    assert set(rows) == {"trained (float32)", "trained (bfloat16)", "zero-shot"}
    assert rows["trained (float32)"] == rows["trained (bfloat16)"] == ["1.000", "1.000"]
    refused = subprocess.run([*command, "--precision", "half"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2 and "expected one or more of auto, bfloat16, float32" in refused.stderr
