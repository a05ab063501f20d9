"""The trained rule and memoization policies predict what Rasa's own do when handed only the last states."""

from __future__ import annotations

import pytest
from rasa.shared.core.events import ActionExecuted, Event, Restarted, UserUtteranceReverted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import rasa_patches
from bot.rasa_patches import dialogue_states, policy_tails

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def policies():
    """The trained model's RulePolicy and MemoizationPolicy, and its domain."""
    from rasa.core.agent import Agent

    from bot.server.serve import MODEL, check_model

    check_model(MODEL)
    agent = Agent.load(str(MODEL))
    found = {type(node._component).__name__: node._component
             for node in agent.processor.graph_runner._instantiated_nodes.values()}
    return found["RulePolicy"], found["MemoizationPolicy"], agent.domain


def _long_conversation(training_trackers, plays: int = 5) -> list:
    """Every training story one after another, five times over, with undone turns and a restart among them."""
    stories = [t for t in training_trackers if not t.is_rule_tracker]
    events = []
    for play in range(plays):
        for number, story in enumerate(stories):
            events += [Event.from_parameters(e.as_dict()) for e in story.events
                       if not (isinstance(e, ActionExecuted) and e.action_name == "action_session_start")]
            if number == len(stories) // 2:
                events.append(UserUtteranceReverted())
        if play == plays // 2:
            events += [Restarted(), ActionExecuted("action_listen")]
    return events


def _predictions(events, rule, memo, domain) -> list:
    tracker = DialogueStateTracker("long", domain.slots)
    data = rule._get_rule_only_data()
    made = []
    for event in events:
        tracker.update(event)
        if isinstance(event, ActionExecuted | UserUttered):
            made.append((
                rule.predict_action_probabilities(tracker, domain, rule_only_data=data),
                memo.predict_action_probabilities(tracker, domain, rule_only_data=data),
            ))
    return made


def test_the_last_states_give_rasas_predictions_at_every_step_of_a_long_conversation(policies, training_trackers):
    rule, memo, domain = policies
    events = _long_conversation(training_trackers)
    assert len(events) > 300
    rasa_patches.uninstall()
    stock = _predictions(events, rule, memo, domain)
    rasa_patches.install()
    try:
        assert _predictions(events, rule, memo, domain) == stock
    finally:
        rasa_patches.uninstall()
        dialogue_states.forget()
    assert any(p[0].max_confidence > 0.5 for p in stock) and any(p[1].max_confidence > 0.5 for p in stock)


def test_each_policy_is_handed_only_the_states_it_reads(policies, monkeypatch):
    rule, memo, domain = policies
    tracker = DialogueStateTracker("short", domain.slots)
    for n in range(12):
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered(f"thanks {n}", {"name": "thank", "confidence": 1.0}))
        tracker.update(ActionExecuted("utter_welcome"))
    seen = []
    rasa_patches.install()
    try:
        original = dialogue_states.states_for_tracker_history

        def counted(*args, **kwargs):
            seen.append(len(original(*args, **kwargs)))
            return original(*args, **kwargs)

        # Undone before uninstall: undoing after it would put the patched function back on the
        # domain with the registry empty, and the next install() would refuse it as foreign code.
        with monkeypatch.context() as patched:
            patched.setattr(type(domain), "states_for_tracker_history", counted)
            rule.predict_action_probabilities(tracker, domain, rule_only_data=rule._get_rule_only_data())
            memo.predict_action_probabilities(tracker, domain, rule_only_data=rule._get_rule_only_data())
    finally:
        rasa_patches.uninstall()
        dialogue_states.forget()
    assert seen and max(seen) <= max(policy_tails.longest_rule(rule) + 1, memo.featurizer.max_history)
    assert len(tracker.past_states(domain)) > 20  # Rasa's own: every step
