"""The kept folds give exactly Rasa's dialogue states, however a conversation grows or changes."""

from __future__ import annotations

import itertools

import pytest
from rasa.shared.core.constants import RULE_ONLY_LOOPS, RULE_ONLY_SLOTS
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    Restarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot import rasa_patches
from bot.rasa_patches import dialogue_states
from bot.settings import ROOT

OPTIONS = [
    {"omit_unset_slots": omit, "ignore_rule_only_turns": ignore, "rule_only_data": data}
    for omit, ignore, data in itertools.product(
        (False, True), (False, True),
        (None, {RULE_ONLY_SLOTS: ["practice_target", "raised_points"], RULE_ONLY_LOOPS: ["practice_form"]}),
    )
]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture()
def rasas(domain):
    """Rasa's own function, kept aside while the folds are installed."""
    rasa_patches.uninstall(["dialogue_states"])
    dialogue_states.forget()
    original = Domain.states_for_tracker_history
    rasa_patches.install(["dialogue_states"])
    yield lambda tracker, **options: original(domain, tracker, **options)
    rasa_patches.uninstall(["dialogue_states"])
    dialogue_states.forget()


def _grown(tracker: DialogueStateTracker, domain: Domain, sender: str):
    """The conversation as a server sees it: a new tracker object on each turn, one event longer."""
    events = list(tracker.events)
    for end in range(1, len(events) + 1):
        step = DialogueStateTracker(sender, domain.slots, is_rule_tracker=tracker.is_rule_tracker)
        for event in events[:end]:
            step.update(event)
        yield step


def test_every_prefix_of_every_training_conversation_has_rasas_states(domain, training_trackers, rasas):
    checked = 0
    for index, tracker in enumerate(training_trackers):
        for options in OPTIONS:
            for step in _grown(tracker, domain, f"story-{index}"):
                assert domain.states_for_tracker_history(step, **options) == rasas(step, **options)
                checked += 1
    assert checked > 1000
    assert dialogue_states._folds  # the folds were used, not rebuilt each time


def test_conversations_sharing_a_sender_id_do_not_mix(domain, training_trackers, rasas):
    """Rasa's training trackers are all 'default': each is a different history for one key."""
    for tracker in training_trackers:
        for options in OPTIONS[:4]:
            assert domain.states_for_tracker_history(tracker, **options) == rasas(tracker, **options)


def _conversation(domain: Domain, sender: str) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(sender, [
        ActionExecuted("action_listen"),
        UserUttered("lenin was a dictator", {"name": "claim_authoritarian_personality", "confidence": 0.9}),
        ActionExecuted("action_rebut_claim"),
        SlotSet("raised_points", ["claim_authoritarian_personality"]),
        ActionExecuted("action_listen"),
        UserUttered("quiz me", {"name": "start_practice", "confidence": 0.9}),
        ActionExecuted("action_start_practice"),
        ActiveLoop("practice_form"),
        ActionExecuted("practice_form"),
    ], slots=domain.slots)


@pytest.mark.parametrize("undo", [UserUtteranceReverted(), Restarted()])
def test_an_undone_turn_or_a_restart_is_folded_again(domain, rasas, undo):
    tracker = _conversation(domain, "undo")
    for options in OPTIONS:
        assert domain.states_for_tracker_history(tracker, **options) == rasas(tracker, **options)
    tracker.update(undo)
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("thanks", {"name": "thank", "confidence": 0.9}))
    for options in OPTIONS:
        assert domain.states_for_tracker_history(tracker, **options) == rasas(tracker, **options)


def test_history_replaced_with_other_events_is_folded_again(domain, rasas):
    first = _conversation(domain, "replaced")
    assert domain.states_for_tracker_history(first) == rasas(first)
    other = DialogueStateTracker.from_events("replaced", [
        ActionExecuted("action_listen"),
        UserUttered("what are the six points?", {"name": "ask_six_points", "confidence": 0.9}),
    ], slots=domain.slots)
    assert domain.states_for_tracker_history(other) == rasas(other)


def test_a_caller_editing_the_states_does_not_change_the_next_answer(domain, rasas):
    tracker = _conversation(domain, "editing")
    for state in domain.states_for_tracker_history(tracker):
        for sub in state.values():
            sub.clear()
    assert domain.states_for_tracker_history(tracker) == rasas(tracker)


def test_the_kept_folds_are_bounded(domain, rasas, monkeypatch):
    monkeypatch.setattr(dialogue_states, "MAX_FOLDS", 3)
    for n in range(6):
        tracker = _conversation(domain, f"student-{n}")
        assert domain.states_for_tracker_history(tracker) == rasas(tracker)
    assert len(dialogue_states._folds) == 3


def test_a_growing_conversation_is_folded_on_not_replayed(domain, rasas):
    tracker = _conversation(domain, "growing")
    domain.states_for_tracker_history(tracker)
    (fold,) = dialogue_states._folds.values()
    replay = fold.replay
    longer = DialogueStateTracker.from_events("growing", [
        *tracker.events, ActionExecuted("action_listen"), UserUttered("done", {"name": "stop", "confidence": 1.0}),
    ], slots=domain.slots)
    assert domain.states_for_tracker_history(longer) == rasas(longer)
    (fold,) = dialogue_states._folds.values()
    assert fold.replay is replay and len(fold.prints) == len(longer.applied_events())


def test_turns_hidden_from_the_policies_are_left_out_as_rasa_leaves_them(domain, rasas):
    """Rule-only turns (``hide_rule_turn``): the states skip them and carry the last kept input."""
    events = [
        ActionExecuted("action_listen"),
        UserUttered("lenin was a dictator", {"name": "claim_authoritarian_personality", "confidence": 0.9}),
        ActionExecuted("action_rebut_claim"),
        ActionExecuted("action_listen"),
        UserUttered("quiz me", {"name": "start_practice", "confidence": 0.9}),
        ActionExecuted("action_start_practice", hide_rule_turn=True),
        SlotSet("practice_target", "claim_authoritarian_personality"),
        ActionExecuted("practice_form", hide_rule_turn=True),
        ActiveLoop("practice_form"),
        ActionExecuted("action_listen", hide_rule_turn=True),
        UserUttered("he chose prison and exile", {"name": "practice_answer", "confidence": 0.9}),
        ActionExecuted("practice_form"),
        ActiveLoop(None),
        ActionExecuted("action_score_practice"),
        ActionExecuted("action_listen"),
    ]
    for end in range(1, len(events) + 1):
        tracker = DialogueStateTracker.from_events("hidden", events[:end], slots=domain.slots)
        for options in OPTIONS:
            assert domain.states_for_tracker_history(tracker, **options) == rasas(tracker, **options)


def test_a_conversation_read_back_from_a_store_is_folded_on(domain, rasas):
    """New event objects with the same classes and timestamps: the fold goes on, not again."""
    from rasa.shared.core.events import Event

    tracker = _conversation(domain, "stored")
    domain.states_for_tracker_history(tracker)
    (fold,) = dialogue_states._folds.values()
    replay = fold.replay
    read_back = [Event.from_parameters(event.as_dict()) for event in tracker.events]
    assert all(new is not old for new, old in zip(read_back, tracker.events, strict=True))
    longer = DialogueStateTracker.from_events("stored", [
        *read_back, ActionExecuted("action_listen"), UserUttered("done", {"name": "stop", "confidence": 1.0}),
    ], slots=domain.slots)
    assert domain.states_for_tracker_history(longer) == rasas(longer)
    (fold,) = dialogue_states._folds.values()
    assert fold.replay is replay


def test_histories_sharing_their_first_and_last_events_but_not_the_middle_do_not_mix(domain, rasas):
    """Stories joined at checkpoints share event objects; only the whole prefix decides."""
    start = [ActionExecuted("action_listen")]
    end = [ActionExecuted("action_listen")]
    middles = [
        [UserUttered("lenin was a dictator", {"name": "claim_authoritarian_personality", "confidence": 0.9}),
         ActionExecuted("action_rebut_claim")],
        [UserUttered("quiz me", {"name": "start_practice", "confidence": 0.9}),
         ActionExecuted("action_start_practice")],
    ]
    for middle in middles:
        tracker = DialogueStateTracker.from_events("joined", [*start, *middle, *end], slots=domain.slots)
        for options in OPTIONS:
            assert domain.states_for_tracker_history(tracker, **options) == rasas(tracker, **options)


def _practice_round(answers: int) -> list:
    """A practice round as the server logs it: the loop runs again after each answer."""
    events = [
        ActionExecuted("action_listen"),
        UserUttered("quiz me", {"name": "start_practice", "confidence": 0.9}),
        ActionExecuted("action_start_practice"),
        SlotSet("practice_target", "claim_authoritarian_personality"),
        ActionExecuted("practice_form"),
        ActiveLoop("practice_form"),
        SlotSet("requested_slot", "practice_answer"),
    ]
    for n in range(answers):
        events += [
            ActionExecuted("action_listen"),
            UserUttered(f"answer {n}", {"name": "practice_answer", "confidence": 0.9}),
            ActionExecuted("practice_form"),
            SlotSet("practice_answer", [f"answer {m}" for m in range(n + 1)]),
            SlotSet("requested_slot", "practice_answer"),
        ]
    return [*events, ActiveLoop(None), ActionExecuted("action_score_practice"), ActionExecuted("action_listen")]


def test_a_loops_turns_rewind_the_fold_to_a_mark_instead_of_folding_everything_again(domain, rasas, monkeypatch):
    made = []

    class Counted(dialogue_states._Fold):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(dialogue_states, "_Fold", Counted)
    events = _practice_round(3) + _practice_round(4)
    tracker = DialogueStateTracker("looping", domain.slots)
    rewound = 0
    for event in events:
        tracker.update(event)
        for options in OPTIONS:
            before = len(made)
            assert domain.states_for_tracker_history(tracker, **options) == rasas(tracker, **options)
            rewound += len(made) == before and len(tracker.applied_events()) < len(tracker.events)
    kinds = {(o["omit_unset_slots"], o["ignore_rule_only_turns"], o["ignore_rule_only_turns"] and str(o["rule_only_data"]))
             for o in OPTIONS}  # rule-only data counts only where rule-only turns are left out
    assert len(made) == len(kinds)  # one fold per kind of call, never made again
    assert rewound > 0
