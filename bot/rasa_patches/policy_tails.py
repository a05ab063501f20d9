"""The rule and memoization policies are handed the dialogue states they read, not every one.

Before each prediction both policies ask for the dialogue state of every step of the
conversation, and each is given its own copies (Rasa's featurizer edits them in place). What
they read of them is bounded:

- ``MemoizationPolicy`` keeps the last ``max_history`` states (after dropping the
  ``action_unlikely_intent`` ones) and reads nothing else.
- ``RulePolicy`` matches each rule against the last states, as many as the rule has; past
  the longest rule every rule still applies, so the states before those never change which
  rule matches. Where no rule matches, Rasa names the prediction's source by all the states
  it was given; that name only decides whether the turn is hidden (a rule's own key, never
  longer than the longest rule), so one state more than the longest rule keeps that answer.

So each gets the last of the states it reads (``dialogue_states.tail``), and no more: late in
``make bench``'s 200-turn conversation, copying the rest and the featurizer's walks over them
were 42 and 15 of the Rasa server's 437 busy samples in turns 181-200 (py-spy), against none
in its first 20. ``tests/test_policy_tails.py`` checks both policies' predictions against
Rasa's own at every step of long conversations with practice rounds, undos and restarts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.rasa_patches import Patch
from bot.rasa_patches.dialogue_states import tail

_FEATURIZERS = "rasa.core.featurizers.tracker_featurizers"
_RULES = "rasa.core.policies.rule_policy:RulePolicy"
_MEMO = "rasa.core.policies.memoization:MemoizationPolicy"
_LONGEST = "_tutor_longest_rule"


def _plain_featurizer(policy: Any, max_history_set: bool) -> bool:
    from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer

    featurizer = policy.featurizer
    return type(featurizer) is MaxHistoryTrackerFeaturizer and (featurizer.max_history is not None) == max_history_set


def longest_rule(policy: Any) -> int:
    """The most states any of the policy's rules (or loop unhappy-path rules) has; kept per lookup."""
    from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH

    lookups = [policy.lookup.get(name, {}) for name in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH)]
    mark = tuple((id(lookup), len(lookup)) for lookup in lookups)
    kept = policy.__dict__.get(_LONGEST)
    if kept is None or kept[0] != mark:
        kept = (mark, max((len(json.loads(key)) for lookup in lookups for key in lookup), default=0))
        policy.__dict__[_LONGEST] = kept
    return kept[1]


def _rule_states(original: Callable[..., list]) -> Callable[..., list]:
    from rasa.core.policies.rule_policy import RulePolicy

    def _prediction_states(self: Any, tracker: Any, domain: Any, use_text_for_last_user_input: bool = False,
                           rule_only_data: dict[str, Any] | None = None) -> list:
        if type(self) is not RulePolicy or not _plain_featurizer(self, max_history_set=False):
            return original(self, tracker, domain, use_text_for_last_user_input, rule_only_data)
        with tail(longest_rule(self) + 1):
            return original(self, tracker, domain, use_text_for_last_user_input, rule_only_data)

    return _prediction_states


def _memo_states(original: Callable[..., list]) -> Callable[..., list]:
    from rasa.core.policies.memoization import MemoizationPolicy

    def _prediction_states(self: Any, tracker: Any, domain: Any, use_text_for_last_user_input: bool = False,
                           rule_only_data: dict[str, Any] | None = None) -> list:
        if type(self) is not MemoizationPolicy or not _plain_featurizer(self, max_history_set=True):
            return original(self, tracker, domain, use_text_for_last_user_input, rule_only_data)
        with tail(self.featurizer.max_history, skip_unlikely_intent=True):
            return original(self, tracker, domain, use_text_for_last_user_input, rule_only_data)

    return _prediction_states


_FEATURIZER_READS = (
    (f"{_FEATURIZERS}:MaxHistoryTrackerFeaturizer.prediction_states", "451caf09a389e871"),
    (f"{_FEATURIZERS}:TrackerFeaturizer._create_states", "2fed265eee3bfa38"),
    (f"{_FEATURIZERS}:TrackerFeaturizer._remove_action_unlikely_intent_from_states", "c2bed0e9c82d6fca"),
    (f"{_FEATURIZERS}:MaxHistoryTrackerFeaturizer.slice_state_history", "f90eb9f4789d2c10"),
    (f"{_FEATURIZERS}:TrackerFeaturizer._choose_last_user_input", "0a4f5a414bf19fbb"),
    (f"{_FEATURIZERS}:TrackerFeaturizer._remove_user_text_if_intent", "b0dc0d2430e6b41e"),
)

PATCHES = [
    Patch("rule_policy_states", f"{_RULES}._prediction_states", "ed9b82bed2f26ad7", _rule_states, reads=(
        *_FEATURIZER_READS,
        (f"{_RULES}._find_action_from_rules", "be6da6ee0f5429bd"),
        (f"{_RULES}._get_possible_keys", "2915fd81711e194c"),
        (f"{_RULES}._is_rule_applicable", "64a108b016b46e57"),
        (f"{_RULES}._predict", "f5182d8a10639e14"),
        (f"{_RULES}._rule_prediction", "90316ddf7eb4b314"),
        (f"{_RULES}._create_feature_key", "641eda8d019918ce"),
    )),
    Patch("memoization_states", f"{_MEMO}._prediction_states", "ed9b82bed2f26ad7", _memo_states, reads=(
        *_FEATURIZER_READS,
        (f"{_MEMO}.predict_action_probabilities", "19903a81bee56ca9"),
        (f"{_MEMO}.recall", "4b540d022e9cab44"),
        (f"{_MEMO}._recall_states", "549ef85ae8f5cd8c"),
    )),
]
