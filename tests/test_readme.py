"""The README's Layout block names only what is in the tree."""

from __future__ import annotations

import re

from bot.settings import ROOT

FILE = re.compile(r"^[\w.-]+(/[\w.-]+)*/?$")


def layout_paths() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    parents: dict[int, str] = {}
    paths = []
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent > 4:
            continue  # a description carried onto the next line
        words = line.split()
        names = [words[0]]
        if indent == 0 and "." in words[0] and not words[0].endswith("/"):
            names = [w for w in words if FILE.match(w) and "." in w]  # a line listing files
        elif indent == 4:
            names = []
            for word in words:  # "train.py adapt.py    what they are"
                if not word.endswith(".py"):
                    break
                names.append(word)
        parent = "" if indent == 0 else parents.get(indent - 2, "")
        for name in names:
            path = parent + name
            paths.append(path)
            if name.endswith("/"):
                parents[indent] = path
    return paths


def test_every_path_the_layout_names_exists():
    paths = layout_paths()
    assert len(paths) > 40
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert missing == []


def test_every_bot_subpackage_is_in_the_layout():
    named = set(layout_paths())
    packages = {f"bot/{p.name}/" for p in (ROOT / "bot").iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert packages <= named, packages - named


def test_a_subpackage_whose_modules_are_listed_has_them_all_listed():
    named = set(layout_paths())
    listed = {p.rsplit("/", 1)[0] for p in named if p.startswith("bot/") and p.endswith(".py") and p.count("/") == 2}
    for package in sorted(listed):
        modules = {f"{package}/{m.name}" for m in (ROOT / package).glob("*.py") if m.name != "__init__.py"}
        assert modules <= named, modules - named
