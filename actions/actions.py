"""Thin actions: read the tracker, ask the tutor, answer with the domain's responses."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.essay.knowledge import COUNTER_ARGUMENT_KEY
from bot.search.embeddings import VECTOR_KEY, unpack
from bot.tutoring import replies
from bot.tutoring.results import HISTORY_SLOT, RESULT_SLOT, PracticeResult, read_history
from bot.tutoring.tutor import Tutor, shared_tutor

DomainDict = dict[str, Any]


@lru_cache(maxsize=1)
def _scoring_worker() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring")


def _shown(tracker: Tracker) -> set[str]:
    return set(tracker.get_slot("shown_passages") or [])


def _remember(tracker: Tracker, passage_ids: list[str], **slots: Any) -> list[EventType]:
    shown = list(dict.fromkeys([*(tracker.get_slot("shown_passages") or []), *passage_ids]))
    events = [SlotSet("shown_passages", shown), SlotSet("last_passages", passage_ids)]
    return events + [SlotSet(name, value) for name, value in slots.items()]


def _latest_text(tracker: Tracker, tutor: Tutor) -> str | None:
    """The student's last message, with the vector the Rasa server already made for it."""
    text = tracker.latest_message.get("text")
    vector = unpack(tracker.latest_message.get(VECTOR_KEY), tutor.retriever.encoder.name)
    if text and vector is not None:
        tutor.retriever.encoder.remember(text, vector)
    return text


def _latest_charge(tracker: Tracker) -> str | None:
    values = [
        e.get("value")
        for e in tracker.latest_message.get("entities", [])
        if e.get("entity") == "charge"
    ]
    return values[0] if values else None


def answer(
    dispatcher: CollectingDispatcher,
    tutor: Tutor,
    hit,
    claim: str | None,
    charge: str | None,
    query: str | None,
    responses: tuple[str, str],
) -> None:
    """A focused answer: the key point the passage makes, its sentences, their compact sources.

    The first response leads with the key point; the second is for a passage that makes none.
    """
    focus = tutor.focus(hit, claim, charge, query)
    dispatcher.utter_message(
        response=responses[0] if focus.lead else responses[1],
        lead=focus.lead,
        section=hit.passage.section,
        quote=replies.quote(focus.quote),
        sources=replies.compact_source_lines(tutor.essay, hit.passage.section, tutor.cited_in(hit, focus), tutor.compact),
    )


def rebut(dispatcher: CollectingDispatcher, tracker: Tracker, intent: str | None, charge: str | None) -> list[EventType]:
    """Name the point made, quote the passage that answers it, and remember what was shown."""
    tutor = shared_tutor()
    if not Tutor.is_claim(intent) or intent not in tutor.knowledge.claims:
        dispatcher.utter_message(response="utter_default")
        return []
    text = _latest_text(tracker, tutor)
    charge = charge if intent == tutor.charge_claim else None
    rebuttal = tutor.rebut(intent, text, charge, _shown(tracker))
    if rebuttal.charge:
        dispatcher.utter_message(response="utter_claim_charge", title=rebuttal.charge.title)
    elif rebuttal.claim.point:
        dispatcher.utter_message(response="utter_claim_point", point=rebuttal.claim.point, title=rebuttal.claim.title)
    else:
        dispatcher.utter_message(response="utter_claim_position", title=rebuttal.claim.title)
    hit = rebuttal.hit
    if hit is None:
        dispatcher.utter_message(response="utter_no_more")
        return [SlotSet("last_claim", intent)]
    charge_key = rebuttal.charge.key if rebuttal.charge else None
    answer(dispatcher, tutor, hit, intent, charge_key, text, ("utter_rebuttal", "utter_rebuttal_plain"))
    raised = list(dict.fromkeys([*(tracker.get_slot("raised_points") or []), intent]))
    events = _remember(
        tracker,
        hit.ids,
        last_claim=intent,
        last_charge=rebuttal.charge.key if rebuttal.charge else None,
        last_query=text,
        raised_points=raised,
    )
    if tracker.get_slot("practice_mode") == "prosecute":
        prosecuted = list(dict.fromkeys([*(tracker.get_slot("prosecution_raised") or []), intent]))
        events.append(SlotSet("prosecution_raised", prosecuted))
    return events


class ActionRebutClaim(Action):
    """Name the point the student made, then quote the essay's answer and its sources."""

    def name(self) -> str:
        return "action_rebut_claim"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = tracker.latest_message.get("intent", {}).get("name")
        return rebut(dispatcher, tracker, intent, _latest_charge(tracker))


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
        answer(dispatcher, tutor, hit, claim, tracker.get_slot("last_charge"), query, ("utter_more", "utter_more_plain"))
        return _remember(tracker, hit.ids)


class ActionReadPassage(Action):
    """The whole of the passage last quoted, with the quotation it introduces."""

    def name(self) -> str:
        return "action_read_passage"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        tutor = shared_tutor()
        ids = tracker.get_slot("last_passages") or []
        passage = tutor.retriever.index.get(ids[0]) if ids else None
        if passage is None:  # nothing quoted yet, or the index changed since
            dispatcher.utter_message(response="utter_nothing_yet")
            return []
        hit = tutor.retriever.hit_for(passage.id)
        dispatcher.utter_message(
            response="utter_whole_passage",
            section=passage.section,
            quote=replies.hit_quote(hit),
            sources=replies.compact_source_lines(
                tutor.essay, passage.section, [n.number for n in hit.sources], tutor.compact
            ),
        )
        return []


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
        unique = dict.fromkeys(line for block in lines for line in block.splitlines())
        dispatcher.utter_message(response="utter_sources", sources="\n".join(unique))
        return []


class ActionNarrative(Action):
    """The numbered points of the thesis, marking those this student has raised."""

    def name(self) -> str:
        return "action_narrative"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        narrative = shared_tutor().narrative(set(tracker.get_slot("raised_points") or []))
        points = replies.numbered(
            f"{claim.statement}{' ✓' if raised else ''}" for claim, raised in narrative
        )
        count = sum(raised for _, raised in narrative)
        dispatcher.utter_message(
            response="utter_narrative",
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
        text = _latest_text(tracker, tutor) or ""
        hits = tutor.answer_question(text, _shown(tracker))
        if not hits:
            dispatcher.utter_message(response="utter_no_more")
            return []
        answer(dispatcher, tutor, hits[0], None, None, text, ("utter_essay_answer", "utter_essay_answer_plain"))
        return _remember(tracker, [i for h in hits for i in h.ids], last_claim=None, last_charge=None, last_query=text)


class ActionClarifyClaim(Action):
    """Low confidence or two close claims: ask which one, with buttons; never guess silently."""

    def name(self) -> str:
        return "action_clarify_claim"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        tutor = shared_tutor()
        charge = _latest_charge(tracker)
        if charge in tutor.knowledge.charges:
            # Naming a charge is itself the claim the charges are evidence for (knowledge/claims.yml).
            return rebut(dispatcher, tracker, tutor.charge_claim, charge)
        ranking = tracker.latest_message.get("intent_ranking", [])
        candidates = tutor.candidates(ranking)
        if not candidates:
            dispatcher.utter_message(response="utter_default")
            return []
        buttons = [{"title": c.title, "payload": f"/{c.key}"} for c in candidates]
        dispatcher.utter_message(response="utter_which_claim", buttons=buttons)
        return []


class ActionAgree(Action):
    """Welcome the essay's side, naming the essay's answer the student just made when the NLU found one."""

    def name(self) -> str:
        return "action_agree"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        made = tracker.latest_message.get(COUNTER_ARGUMENT_KEY)
        made = made if isinstance(made, dict) else {}
        found = shared_tutor().knowledge.key_point(made.get("claim"), made.get("key_point"))
        if found:
            claim, point = found
            dispatcher.utter_message(response="utter_agree_point", title=claim.title, point=point.text)
        else:
            dispatcher.utter_message(response="utter_agree")
        return []


class ActionArgueThesis(Action):
    """Argue one point of the thesis the student has not raised, for them to answer."""

    def name(self) -> str:
        return "action_argue_thesis"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        case = shared_tutor().opponent_case(set(tracker.get_slot("raised_points") or []))
        dispatcher.utter_message(
            response="utter_opponent", point=case.point, title=case.title, opponent=case.opponent
        )
        return [SlotSet("last_claim", case.key), SlotSet("last_query", case.statement)]


def _practised(tracker: Tracker) -> set[str]:
    return {a.claim for a in read_history(tracker.get_slot(HISTORY_SLOT)) if a.claim}


def _label(position) -> str:
    return f"point {position.point}: {position.title}" if position.point else position.title


class ActionStartPractice(Action):
    """Argue a point (the one named, else one not yet practised) for the student to rebut."""

    def name(self) -> str:
        return "action_start_practice"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        from bot.tutoring.practice import shared_practice

        charge = _latest_charge(tracker)
        target = tracker.get_slot("practice_target") or charge
        position = shared_practice().pick(target, tracker.latest_message.get("text"), _practised(tracker))
        dispatcher.utter_message(response="utter_practice_opening", label=_label(position), opponent=position.opponent)
        return [
            SlotSet("practice_claim", position.key),
            SlotSet("practice_answer", []),
            SlotSet("practice_done", None),
            SlotSet("practice_target", None),
            SlotSet("practice_mode", None),
        ]


class ValidatePracticeForm(FormValidationAction):
    """Collect the answer message by message until the student says they are done."""

    def name(self) -> str:
        return "validate_practice_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """The answer is listed too: rasa_sdk only returns the slots it is told are required.

        It starts as [] (filled), so the form still asks for practice_done alone.
        """
        return ["practice_answer", *domain_slots]

    async def extract_practice_done(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        intent = tracker.latest_message.get("intent", {}).get("name")
        if intent == "finish_answer":
            return {"practice_done": True}
        text = _latest_text(tracker, shared_tutor()) or ""
        if not text or text.startswith("/") or intent == "start_practice":
            return {}  # the request that opened the round, or a button, is no part of the answer
        return {"practice_answer": [*(tracker.get_slot("practice_answer") or []), text]}

    def validate_practice_answer(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"practice_answer": list(slot_value or [])}

    def validate_practice_done(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"practice_done": True if slot_value else None}


class ActionAskPracticeDone(Action):
    """The prompt while an answer is being written: first the instructions, then 'noted'."""

    def name(self) -> str:
        return "action_ask_practice_done"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        started = bool(tracker.get_slot("practice_answer"))
        dispatcher.utter_message(response="utter_practice_noted" if started else "utter_ask_practice_done")
        return []


class ActionScorePractice(Action):
    """Score the rebuttal against the claim's key points; say what was made, missed and next."""

    def name(self) -> str:
        return "action_score_practice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        """Scored in a worker thread: the action server runs one event loop for every student, and
        judging an answer (about 200 ms) would hold up everyone else's replies meanwhile. One worker:
        answers are scored in turn, and torch's per-thread pools are made once, not per thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_scoring_worker(), self.score, dispatcher, tracker, domain)

    def score(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        from bot.tutoring.practice import made_lines, missed_lines, shared_practice

        practice = shared_practice()
        templates = replies.templates(domain)
        key = tracker.get_slot("practice_claim")
        try:
            position = practice.knowledge.position(key)
        except KeyError:
            dispatcher.utter_message(response="utter_nothing_to_submit")
            return [SlotSet("practice_done", None)]
        feedback = practice.assess(position, tracker.get_slot("practice_answer") or [])
        assessment, total = feedback.assessment, feedback.assessment.total
        if assessment.empty:
            dispatcher.utter_message(response="utter_practice_empty", total=total)
        elif assessment.copied:
            dispatcher.utter_message(response="utter_practice_copied", total=total)
        elif assessment.off_topic:
            dispatcher.utter_message(response="utter_practice_off_topic", total=total)
        else:
            dispatcher.utter_message(
                response="utter_practice_score", score=assessment.score, total=total, label=_label(position)
            )
            if feedback.made:
                dispatcher.utter_message(response="utter_practice_made", lines=made_lines(feedback, templates))
        if feedback.missed:
            dispatcher.utter_message(response="utter_practice_missed", lines=missed_lines(feedback, templates))
            move = practice.suggestion(feedback)
            if move is not None:
                dispatcher.utter_message(response=move.response(), number=move.number, sentence=move.sentence,
                                         source=move.source)
        dispatcher.utter_message(response="utter_practice_next", retry=position.key)
        result = feedback.result().as_slot()
        history = [*(tracker.get_slot(HISTORY_SLOT) or []), result]
        return [
            SlotSet(RESULT_SLOT, result),
            SlotSet(HISTORY_SLOT, history),
            SlotSet("practice_answer", []),
            SlotSet("practice_done", None),
        ]


class ActionStartProsecution(Action):
    """The student argues the thesis; the tutor answers each point as usual."""

    def name(self) -> str:
        return "action_start_prosecution"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_prosecution_opening")
        return [SlotSet("practice_mode", "prosecute"), SlotSet("prosecution_raised", [])]


class ActionEndProsecution(Action):
    """Which of the thesis's numbered points the prosecutor raised, and which they left out."""

    def name(self) -> str:
        return "action_end_prosecution"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        raised_keys = set(tracker.get_slot("prosecution_raised") or [])
        narrative = shared_tutor().knowledge.narrative
        raised = [p for p in narrative if p.key in raised_keys]
        missing = [p for p in narrative if p.key not in raised_keys]
        dispatcher.utter_message(
            response="utter_prosecution_summary",
            raised_count=len(raised),
            raised="\n".join(f"✓ {_label(p)}" for p in raised) or "(none)",
            missing="\n".join(f"- {_label(p)}" for p in missing) or "(nothing: a complete case)",
        )
        result = PracticeResult.prosecution([p.key for p in raised], [p.key for p in missing]).as_slot()
        history = [*(tracker.get_slot(HISTORY_SLOT) or []), result]
        return [
            SlotSet("practice_mode", None),
            SlotSet("prosecution_raised", []),
            SlotSet(RESULT_SLOT, result),
            SlotSet(HISTORY_SLOT, history),
        ]


class ActionShowProgress(Action):
    """The student's own progress: points practised and the best score on each."""

    def name(self) -> str:
        return "action_show_progress"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        from bot.tutoring.practice import progress_lines

        lines, count = progress_lines(
            read_history(tracker.get_slot(HISTORY_SLOT)), shared_tutor().knowledge, replies.templates(domain)
        )
        if not count:
            dispatcher.utter_message(response="utter_progress_none")
        else:
            dispatcher.utter_message(response="utter_progress_one" if count == 1 else "utter_progress",
                                     count=count, lines=lines)
        return []
