"""Thin actions: read the tracker, ask the tutor, answer with the domain's responses."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import replies
from bot.tutor import Tutor, shared_tutor

DomainDict = dict[str, Any]


def _shown(tracker: Tracker) -> set[str]:
    return set(tracker.get_slot("shown_passages") or [])


def _remember(tracker: Tracker, passage_ids: list[str], **slots: Any) -> list[EventType]:
    shown = list(dict.fromkeys([*(tracker.get_slot("shown_passages") or []), *passage_ids]))
    events = [SlotSet("shown_passages", shown), SlotSet("last_passages", passage_ids)]
    return events + [SlotSet(name, value) for name, value in slots.items()]


def _latest_charge(tracker: Tracker) -> str | None:
    values = [
        e.get("value")
        for e in tracker.latest_message.get("entities", [])
        if e.get("entity") == "charge"
    ]
    return values[0] if values else None


class ActionRebutClaim(Action):
    """Name the point the student made, then quote the essay's answer and its sources."""

    def name(self) -> str:
        return "action_rebut_claim"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        tutor = shared_tutor()
        intent = tracker.latest_message.get("intent", {}).get("name")
        if not Tutor.is_claim(intent) or intent not in tutor.knowledge.claims:
            dispatcher.utter_message(response="utter_default")
            return []
        text = tracker.latest_message.get("text")
        charge = _latest_charge(tracker) if tutor.knowledge.claims[intent].point == 5 else None
        rebuttal = tutor.rebut(intent, text, charge, _shown(tracker))
        if rebuttal.charge:
            dispatcher.utter_message(response="utter_claim_charge", title=rebuttal.charge.title)
        elif rebuttal.claim.point:
            dispatcher.utter_message(
                response="utter_claim_point", point=rebuttal.claim.point, title=rebuttal.claim.title
            )
        else:
            dispatcher.utter_message(response="utter_claim_position", title=rebuttal.claim.title)
        hit = rebuttal.hit
        if hit is None:
            dispatcher.utter_message(response="utter_no_more")
            return [SlotSet("last_claim", intent)]
        dispatcher.utter_message(
            response="utter_rebuttal",
            section=hit.passage.section,
            quote=replies.hit_quote(hit),
            sources=replies.hit_sources(tutor.essay, hit),
        )
        raised = list(dict.fromkeys([*(tracker.get_slot("raised_points") or []), intent]))
        return _remember(
            tracker,
            hit.ids,
            last_claim=intent,
            last_charge=rebuttal.charge.key if rebuttal.charge else None,
            last_query=text,
            raised_points=raised,
        )


class ActionTellMore(Action):
    """The next most relevant passage for the last claim or question, never one already shown."""

    def name(self) -> str:
        return "action_tell_more"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        claim, query = tracker.get_slot("last_claim"), tracker.get_slot("last_query")
        if not claim and not query:
            dispatcher.utter_message(response="utter_nothing_yet")
            return []
        tutor = shared_tutor()
        hit = tutor.more(claim, tracker.get_slot("last_charge"), query, _shown(tracker))
        if hit is None:
            dispatcher.utter_message(response="utter_no_more")
            return []
        dispatcher.utter_message(
            response="utter_more",
            section=hit.passage.section,
            quote=replies.hit_quote(hit),
            sources=replies.hit_sources(tutor.essay, hit),
        )
        return _remember(tracker, hit.ids)


class ActionShowSources(Action):
    """Full citations of every passage in the last answer."""

    def name(self) -> str:
        return "action_show_sources"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        tutor = shared_tutor()
        passages = [tutor.retriever.index.get(i) for i in tracker.get_slot("last_passages") or []]
        passages = [p for p in passages if p is not None]
        if not passages:
            dispatcher.utter_message(response="utter_nothing_yet")
            return []
        lines = [
            replies.source_lines(tutor.essay, p.section, tutor.essay.sources(tutor.essay.block(p.id)))
            for p in passages
        ]
        dispatcher.utter_message(response="utter_sources", sources="\n".join(dict.fromkeys(lines)))
        return []


class ActionSixPoints(Action):
    """The continuity narrative, marking the points this student has raised."""

    def name(self) -> str:
        return "action_six_points"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        narrative = shared_tutor().narrative(set(tracker.get_slot("raised_points") or []))
        points = replies.numbered(
            f"{claim.statement}{' ✓' if raised else ''}" for claim, raised in narrative
        )
        count = sum(raised for _, raised in narrative)
        dispatcher.utter_message(
            response="utter_six_points",
            points=points,
            progress=self._progress(domain, count),
        )
        return []

    @staticmethod
    def _progress(domain: DomainDict, count: int) -> str:
        name = "utter_points_progress" if count else "utter_points_progress_none"
        text = domain.get("responses", {}).get(name, [{}])[0].get("text", "")
        return text.replace("{raised}", str(count))


class ActionAnswerQuestion(Action):
    """A question about the essay that makes no claim: the passages that bear on it."""

    def name(self) -> str:
        return "action_answer_question"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        tutor = shared_tutor()
        text = tracker.latest_message.get("text") or ""
        hits = tutor.answer_question(text, _shown(tracker))
        dispatcher.utter_message(
            response="utter_essay_passages", passages=replies.passages_digest(tutor.essay, hits)
        )
        return _remember(tracker, [i for h in hits for i in h.ids], last_claim=None, last_charge=None, last_query=text)


class ActionClarifyClaim(Action):
    """Low confidence or two close claims: ask which one, with buttons; never guess silently."""

    def name(self) -> str:
        return "action_clarify_claim"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        ranking = tracker.latest_message.get("intent_ranking", [])
        candidates = shared_tutor().candidates(ranking)
        if not candidates:
            dispatcher.utter_message(response="utter_default")
            return []
        buttons = [{"title": c.title, "payload": f"/{c.key}"} for c in candidates]
        dispatcher.utter_message(response="utter_which_claim", buttons=buttons)
        return []


class ActionArgueContinuity(Action):
    """Argue one continuity point the student has not raised, for them to answer."""

    def name(self) -> str:
        return "action_argue_continuity"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        case = shared_tutor().opponent_case(set(tracker.get_slot("raised_points") or []))
        dispatcher.utter_message(
            response="utter_opponent", point=case.point, title=case.title, opponent=case.opponent
        )
        return [SlotSet("last_claim", case.key), SlotSet("last_query", case.statement)]
