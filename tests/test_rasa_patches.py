"""Rasa's internals changed in one guarded place: each patch behaves as Rasa does, and refuses another Rasa."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import subprocess
import sys
import threading
import warnings

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core import events
from rasa.shared.utils.common import all_subclasses

from bot import rasa_patches
from bot.rasa_patches import PatchRefused, action_calls, dialogue_states
from bot.rasa_patches.action_calls import current_turn
from bot.settings import ROOT


@pytest.fixture(scope="module", autouse=True)
def patched():
    rasa_patches.uninstall()
    assert len(rasa_patches.install()) == len(rasa_patches.all_patches())
    assert rasa_patches.install() == []  # twice is the same as once
    yield
    rasa_patches.uninstall()
    dialogue_states.forget()


@pytest.fixture(scope="module")
def remote() -> RemoteAction:
    return RemoteAction("action_anything", None)


def test_a_valid_action_response_passes(remote):
    result = {
        "events": [{"event": "slot", "name": "shown", "value": ["p1"]}],
        "responses": [{"text": "hello", "buttons": []}],
    }
    assert remote._validate_action_result(result) is True


@pytest.mark.parametrize(
    "result",
    [
        {"events": "not a list"},
        {"events": [{"event": "slot", "name": 3}]},
        {"responses": "hello"},
    ],
)
def test_an_invalid_action_response_fails_with_rasas_message(remote, result):
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        remote._validate_action_result(result)


def test_every_event_name_resolves_to_the_class_rasa_finds():
    for cls in all_subclasses(events.Event):
        assert events.Event.resolve_by_type(cls.type_name) is next(
            c for c in all_subclasses(events.Event) if c.type_name == cls.type_name
        )
    assert events.Event.resolve_by_type("no_such_event", default=events.SlotSet) is events.SlotSet
    assert events.Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError, match="Unknown event name"):
        events.Event.resolve_by_type("no_such_event")


def test_stored_events_round_trip():
    stored = [
        events.UserUttered("hi", {"name": "greet", "confidence": 1.0}).as_dict(),
        events.SlotSet("shown", ["p1"]).as_dict(),
        events.ActionExecuted("action_listen").as_dict(),
        events.BotUttered("hello").as_dict(),
    ]
    back = events.deserialise_events(stored)
    assert [type(e) for e in back] == [events.UserUttered, events.SlotSet, events.ActionExecuted, events.BotUttered]
    assert back[1].value == ["p1"]


def test_an_action_is_sent_only_this_turns_events(remote):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

    from bot.settings import ROOT

    domain = Domain.load(str(ROOT / "domain.yml"))
    tracker = DialogueStateTracker.from_events("ana", [
        events.ActionExecuted("action_listen"),
        events.UserUttered("lenin was a dictator", {"name": "claim_authoritarian_personality", "confidence": 0.9}),
        events.SlotSet("shown_passages", ["p1"]),
        events.BotUttered("point 1"),
        events.ActionExecuted("action_listen"),
        events.UserUttered("tell me more", {"name": "tell_more", "confidence": 1.0}),
        events.SlotSet("practice_answer", ["a"]),
    ], slots=domain.slots)
    payload = remote._action_call_format(tracker, domain)
    whole = tracker.current_state(EventVerbosity.ALL)
    state = payload["tracker"]
    assert {k: v for k, v in state.items() if k != "events"} == {k: v for k, v in whole.items() if k != "events"}
    assert state["events"] == whole["events"][-2:]
    assert payload["next_action"] == "action_anything" and payload["sender_id"] == "ana" and "domain" in payload
    assert [e["event"] for e in state["events"]] == ["user", "slot"]
    assert state["latest_message"]["text"] == "tell me more"
    assert state["slots"]["shown_passages"] == ["p1"]  # slots still come whole
    assert len(tracker.events) == 7  # the conversation itself is untouched


def test_current_turn():
    turn = [events.UserUttered("b"), events.SlotSet("x", 1)]
    assert current_turn([events.ActionExecuted("action_listen"), events.UserUttered("a"), *turn]) == turn
    assert current_turn([events.ActionExecuted("action_listen")]) == [events.ActionExecuted("action_listen")]
    assert current_turn([]) == []


def test_no_action_reads_past_events():
    """Actions are sent only this turn's events: one that reads further back must say so here."""
    import ast

    from bot.settings import ROOT

    for path in (ROOT / "actions").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        reads = [
            node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr in {"events", "events_after_latest_restart", "get_last_event_for", "applied_events"}
        ]
        assert not reads, f"{path.name} reads tracker events at lines {reads}"


def test_every_patch_names_a_function_of_this_rasa_with_the_source_it_was_written_for():
    patches = rasa_patches.all_patches()
    assert len({p.name for p in patches}) == len(patches) == 12
    rasa_patches.uninstall()
    try:
        for patch in patches:
            assert rasa_patches.source_hash(rasa_patches._resolve(patch).function) == patch.sha256, patch.name
    finally:
        rasa_patches.install()


def test_another_rasa_version_is_refused_before_anything_changes(monkeypatch):
    import rasa

    rasa_patches.uninstall()
    original = RemoteAction._action_call_format
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    try:
        with pytest.raises(PatchRefused, match=r"written for Rasa 3\.6\.21, and this is Rasa 3\.7\.0"):
            rasa_patches.install()
        assert RemoteAction._action_call_format is original
        assert rasa_patches.installed() == []
    finally:
        monkeypatch.undo()
        rasa_patches.install()


def test_a_changed_rasa_function_is_refused_naming_the_patch(monkeypatch):
    rasa_patches.uninstall()
    original = RemoteAction._action_call_format
    stale = [dataclasses.replace(p, sha256="0" * 16) if p.name == "action_call_this_turn" else p for p in action_calls.PATCHES]
    monkeypatch.setattr(action_calls, "PATCHES", stale)
    try:
        with pytest.raises(PatchRefused, match=r"'action_call_this_turn' refused: .*RemoteAction\._action_call_format"):
            rasa_patches.install()
        assert RemoteAction._action_call_format is original  # not even the patches that passed
        assert rasa_patches.installed() == []
    finally:
        monkeypatch.undo()
        rasa_patches.install()


def test_the_rasa_server_launcher_refuses_another_rasa():
    """The launcher every server uses exits with the patch's reason, before Rasa starts."""
    code = (
        "import rasa; rasa.__version__ = '3.9.9'\n"
        "from bot.server.rasa_run import main\n"
        "raise SystemExit(main(['run', '--port', '1']))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Rasa server not started: the Rasa patches in bot/rasa_patches/ were written for Rasa 3.6.21" in done.stderr


def test_loading_nlu_components_changes_nothing_in_rasa(tmp_path):
    """Training and evaluation run stock Rasa: a component has no side effects."""
    from bot.nlu.sentence_featurizer import SentenceEmbeddingFeaturizer

    rasa_patches.uninstall()
    original = RemoteAction._action_call_format
    try:
        SentenceEmbeddingFeaturizer({**SentenceEmbeddingFeaturizer.get_default_config(), "batch_size": 8}, "featurizer")
        assert rasa_patches.installed() == []
        assert RemoteAction._action_call_format is original
    finally:
        rasa_patches.install()


@pytest.fixture(scope="module")
def agent():
    """The trained model, loaded as the Rasa server loads it."""
    from rasa.core.agent import Agent

    from bot.server.serve import MODEL, check_model

    check_model(MODEL)
    return Agent.load(str(MODEL))


MESSAGES = ["hello", "Lenin was a dictator from day one", "what sources does the essay use?", "zzzz qqq", "ok"]


@pytest.mark.model
def test_parse_message_in_a_worker_thread_gives_rasas_parse(agent):
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor

    processor = agent.processor
    found = rasa_patches._installed["nlu_threads"]
    threads: list[str] = []
    graph = processor._parse_message_with_graph

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return graph(*args, **kwargs)

    async def both() -> list[tuple[dict, dict]]:
        pairs = []
        for text in MESSAGES:
            message = UserMessage(text, sender_id="parse-test")
            processor._parse_message_with_graph = recording
            patched = await MessageProcessor.parse_message(processor, message)
            del processor._parse_message_with_graph
            stock = await found.function(processor, message)
            pairs.append((patched, stock))
        return pairs

    gc.unfreeze()
    try:
        for patched, stock in asyncio.run(both()):
            assert patched == stock
        assert gc.get_freeze_count() > 0  # the heap was frozen after this model's first parse
    finally:
        gc.unfreeze()
    assert len(threads) == len(MESSAGES) and all(name.startswith("nlu") for name in threads), threads


def test_the_frozen_heap_is_left_out_of_collections():
    from bot.server.heap import freeze_heap

    try:
        freeze_heap()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000
        freeze_heap()  # again (a model loaded later): unfrozen, collected, frozen
        assert abs(gc.get_freeze_count() - frozen) < frozen // 2
    finally:
        gc.unfreeze()


def test_a_domain_loaded_later_never_reuses_another_domains_folds():
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    first = Domain.load(str(ROOT / "domain.yml"))
    key = dialogue_states._domain_key(first)
    assert dialogue_states._domain_key(first) == key
    tracker = DialogueStateTracker.from_events("swap", [
        events.ActionExecuted("action_listen"),
        events.UserUttered("hi", {"name": "greet", "confidence": 1.0}),
        events.SlotSet("practice_mode", "prosecute"),
        events.ActionExecuted("action_listen"),
    ], slots=first.slots)
    dialogue_states.forget()
    first.states_for_tracker_history(tracker)
    assert len(dialogue_states._folds) == 1
    later = Domain.load(str(ROOT / "domain.yml"))  # a model swapped in: the same content, another object
    assert dialogue_states._domain_key(later) != key
    stock = rasa_patches._installed["dialogue_states"].function
    assert later.states_for_tracker_history(tracker) == stock(later, tracker)
    assert len(dialogue_states._folds) == 2  # its own fold, not the first domain's


def test_the_socketio_channel_is_kept_on_polling_and_joins_the_session_room():
    from rasa.core.channels.socketio import SocketIOInput

    async def scenario(repaired: bool) -> bool:
        if not repaired:
            rasa_patches.uninstall(["socketio_rooms_and_polling"])
        try:
            channel = SocketIOInput(session_persistence=True)
            channel.blueprint(on_new_message=None)
        finally:
            rasa_patches.install()
        sio = channel.sio
        sid = await sio.manager.connect("eio-1", "/")
        sio.enter_room(sid, "session-1")  # what Rasa 3.6 does: the coroutine is never awaited
        await asyncio.sleep(0)
        joined = sid in dict(sio.manager.get_participants("/", "session-1"))
        if repaired:
            await sio.enter_room(sid, "session-2")  # awaiting it still works
            assert sid in dict(sio.manager.get_participants("/", "session-2"))
            assert (sio.eio.allow_upgrades, sio.eio.transports) == (False, ["polling"])
        return joined

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the coroutine Rasa never awaits
        assert asyncio.run(scenario(repaired=False)) is False
        assert asyncio.run(scenario(repaired=True)) is True


def test_a_failing_tracker_store_raises_instead_of_switching_to_memory():
    from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore

    class Broken(InMemoryTrackerStore):
        async def retrieve(self, sender_id):
            raise ConnectionError("database away")

    store = FailSafeTrackerStore(Broken(None))
    with pytest.raises(ConnectionError, match="database away"):
        asyncio.run(store.retrieve("ana"))

