"""``python -m rasa`` with this project's Rasa patches installed first, or a refusal to start.

Every server that runs the tutor's model starts this way (``bot.server.serve``, the tests,
``make bench``, ``deploy/``), so each gets the patches exactly once, and nothing else does:
``rasa train`` and ``make eval`` run stock Rasa.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from bot.rasa_patches import PatchRefused, install

    try:
        names = install()
    except PatchRefused as error:
        print(f"Rasa server not started: {error}", file=sys.stderr)
        return 2
    print(f"Rasa patches installed (bot/rasa_patches/): {', '.join(names)}", file=sys.stderr, flush=True)
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
