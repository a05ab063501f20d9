"""Tables kept in build/ between starts: read only when whole, written without a half-written file."""

from __future__ import annotations

from bot.tutoring.kept import judge_fingerprint, read_kept, write_kept


def test_a_kept_record_is_read_back_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "deeper" / "kept.json"
    write_kept(path, {"key": "abc", "rows": [1, 2]})
    assert read_kept(path) == {"key": "abc", "rows": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["kept.json"]


def test_missing_unreadable_or_foreign_files_are_not_trusted(tmp_path):
    assert read_kept(None) is None
    assert read_kept(tmp_path / "absent.json") is None
    broken = tmp_path / "broken.json"
    broken.write_text('{"key": "ab', encoding="utf-8")
    assert read_kept(broken) is None
    broken.write_text("[1, 2]", encoding="utf-8")
    assert read_kept(broken) is None


def test_a_file_that_cannot_be_written_costs_time_not_a_crash(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    write_kept(blocker / "kept.json", {"key": "abc"})  # its folder would have to be a file
    write_kept(None, {"key": "abc"})
    assert not (blocker / "kept.json").exists()


def test_a_judge_is_named_by_its_weights_and_no_judge_by_cosine():
    class Weights:
        def fingerprint(self) -> str:
            return "sha-of-manifest"

    class Unnamed:
        pass

    assert judge_fingerprint(None) == "cosine"
    assert judge_fingerprint(Weights()) == "sha-of-manifest"
    assert judge_fingerprint(Unnamed()) == "Unnamed"
