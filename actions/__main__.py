"""Start the action server after loading the essay, index and model, or refuse to start."""

from __future__ import annotations

import argparse
import logging
import sys

from bot.settings import offline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions", description=__doc__)
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    offline()

    from bot.scoring.judge import JudgeUnavailable
    from bot.search.index import IndexUnavailable
    from bot.tutoring.practice import shared_practice
    from bot.tutoring.tutor import shared_tutor

    try:
        tutor = shared_tutor()
        searches = tutor.warm()
        points = shared_practice().warm()
    except (IndexUnavailable, JudgeUnavailable) as error:
        print(f"action server not started: {error}", file=sys.stderr)
        return 2
    logging.getLogger(__name__).info(
        "tutor ready: %d passages, %d claims; warmed %d searches and %d practice points",
        len(tutor.retriever.index), len(tutor.knowledge.claims), searches, points,
    )
    from rasa_sdk.endpoint import run

    from bot.server.heap import freeze_heap, release_freed_memory

    freeze_heap()
    release_freed_memory()

    run("actions.actions", port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
