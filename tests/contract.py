"""Names the intent and entity contract (README "What a student can do"), and small helpers the action tests share."""

from __future__ import annotations

import asyncio
import inspect

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

CONTINUITY = [
    "claim_authoritarian_personality",
    "claim_party_instrument",
    "claim_october_coup",
    "claim_inexorable_path",
    "claim_early_authoritarianism",
    "claim_leninist_regimes",
]
FURTHER = ["claim_human_nature", "claim_ideology_contributed", "claim_will_repeat", "claim_stalin_achievements"]
CHARGES = ["coalition", "constituent_assembly", "cheka", "one_man_management", "banning_parties", "kronstadt", "faction_ban"]


def tracker(text: str = "", intent: str | None = None, entities=(), ranking=None, parsed=None, **slots) -> Tracker:
    """A rasa_sdk tracker whose latest message is ``text`` classified as ``intent`` (``parsed``: more parse data)."""
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9} if intent else {},
        "entities": list(entities),
        "intent_ranking": ranking or [],
        **(parsed or {}),
    }
    return Tracker.from_dict(
        {"sender_id": "student", "slots": slots, "latest_message": message, "events": [], "paused": False}
    )


def run(action, state: Tracker, domain: dict) -> tuple[list[dict], dict]:
    """The messages an action sends and the slots it sets."""
    dispatcher = CollectingDispatcher()
    events = action().run(dispatcher, state, domain)
    if inspect.isawaitable(events):  # an action that works off the server's event loop
        events = asyncio.run(events)
    return dispatcher.messages, {e["name"]: e["value"] for e in events if e["event"] == "slot"}
