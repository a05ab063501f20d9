"""``rasa data validate``, minus its one false alarm: responses sent by custom actions.

Rasa's validator only sees responses named in stories and rules, so it reports the ones our
actions send as unused. Those are checked here instead: every response an action names must
exist in the domain, and every other warning still fails.
"""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from bot.settings import ROOT

_UNUSED = re.compile(r"The utterance '(\w+)' is not used in any story or rule")
_WARNING = re.compile(r"UserWarning|WARNING|ERROR")


def responses_used_by_actions() -> set[str]:
    """Responses named in the actions' and the engine's source (some lay out lines from a response's words)."""
    files = [*(ROOT / "actions").glob("*.py"), *(ROOT / "bot").rglob("*.py")]
    source = "\n".join(p.read_text(encoding="utf-8") for p in files)
    return set(re.findall(r"\"(utter_\w+)\"", source))


def main() -> int:
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    used = responses_used_by_actions()
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    problems = [f"actions send {name}, which domain.yml does not define" for name in sorted(used - set(domain["responses"]))]
    for line in output.splitlines():
        unused = _UNUSED.search(line)
        if unused:
            if unused.group(1) not in used:
                problems.append(line.strip())
        elif _WARNING.search(line) and "Deprecat" not in line:
            problems.append(line.strip())
    if result.returncode != 0:
        problems.append(f"rasa data validate exited with {result.returncode}")
    for problem in problems:
        print(problem)
    print("rasa data validate: clean" if not problems else f"rasa data validate: {len(problems)} problem(s)")
    return 1 if problems else 0
