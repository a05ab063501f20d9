"""Choose the matcher's threshold on labelled rebuttals and say how well it scores.

Every (rebuttal, key point of its claim) pair is scored once; thresholds from 0.30 to 0.80
are swept and the one with the best micro-F1 over all pairs is chosen (ties go to the middle
of the tied run, so the choice does not sit on the edge of a plateau). The in-sample figure
flatters the matcher, so a 5-fold cross-validated figure is reported beside it: each fold's
threshold is chosen on the other four folds and judged on the held-out one.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from bot.essay.knowledge import CLAIMS_FILE, Knowledge, load_knowledge
from bot.essay.parse import Essay
from bot.scoring.matcher import (
    OFF_TOPIC_FLOOR,
    SCORING_FILE,
    Matcher,
    SentenceEncoder,
    judged_cells,
    load_scoring,
    split_sentences,
)
from bot.settings import EVAL_DIR, ROOT

REBUTTALS = EVAL_DIR / "rebuttals.yml"
UNSEEN = EVAL_DIR / "rebuttals_next.yml"
"""Labelled rebuttals the shipped judge was never trained on: where its own threshold is chosen (``bot.scoring.unseen``)."""
SWEEP = [round(0.05 + 0.01 * i, 2) for i in range(91)]
FOLDS = 5
TWIN_COSINE = 0.64
"""Key points of one claim whose MiniLM vectors are this close are reported as near-duplicates."""


@dataclass(frozen=True)
class Labelled:
    claim: str
    text: str
    makes: tuple[str, ...]


class Memo:
    """An encoder that embeds each distinct text once; ``prime`` embeds a whole run in one batch."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.encoder = encoder
        self.vectors: dict[str, np.ndarray] = {}

    def prime(self, texts: list[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            self.vectors.update(zip(missing, self.encoder.encode(missing), strict=True))

    def encode(self, texts: list[str]) -> np.ndarray:
        self.prime(texts)
        return np.stack([self.vectors[t] for t in texts])


@dataclass(frozen=True)
class Pair:
    rebuttal: int
    claim: str
    point: str
    score: float
    gold: bool


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"precision": round(self.precision, 3), "recall": round(self.recall, 3), "f1": round(self.f1, 3)}


def load_rebuttals(path: Path = REBUTTALS) -> list[Labelled]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Labelled(r["claim"], " ".join(r["text"].split()), tuple(r.get("makes") or ())) for r in data["rebuttals"]]


def check_labels(rebuttals: list[Labelled], knowledge: Knowledge) -> list[str]:
    """Labels that name a claim or a key point the claims file does not have for that claim."""
    problems = []
    for i, r in enumerate(rebuttals):
        claim = knowledge.claims.get(r.claim)
        if claim is None:
            problems.append(f"rebuttal {i}: no claim {r.claim!r}")
            continue
        ids = {kp.id for kp in claim.key_points}
        problems.extend(f"rebuttal {i}: {kp!r} is not a key point of {r.claim}" for kp in r.makes if kp not in ids)
    return problems


def claim_passage_texts(knowledge: Knowledge, claim: str, essay: Essay) -> dict[str, str]:
    """The passages a student is shown for a claim, with the quotations they introduce: what could be copied."""
    out = {}
    for block_id in knowledge.claims[claim].passages:
        out[block_id] = essay.block(block_id).text
        follower = essay.follower(block_id)
        if follower is not None:
            out[follower.id] = follower.text
    return out


@dataclass(frozen=True)
class Scored:
    pairs: list[Pair]
    relevance: list[float]
    """Each rebuttal's best similarity to any key point of its claim (what the off-topic floor is set against)."""
    copied: list[int]
    """Rebuttals with a sentence taken for a copy of the essay: labelled answers should have none."""


def score_pairs(matcher: Matcher, rebuttals: list[Labelled], knowledge: Knowledge, essay: Essay | None = None) -> Scored:
    """Every rebuttal against every key point of its claim, copied sentences left out as at run time."""
    memo = matcher.encoder
    if isinstance(memo, Memo):
        memo.prime([u for r in rebuttals for u in matcher.units(split_sentences(r.text))])
    pairs, relevance, copied = [], [], []
    for i, r in enumerate(rebuttals):
        points = {kp.id: kp.text for kp in knowledge.claims[r.claim].key_points}
        passages = claim_passage_texts(knowledge, r.claim, essay) if essay is not None else ()
        assessment = matcher.assess(r.text, points, threshold=1.0, essay_passages=passages, off_topic_floor=0.0)
        pairs.extend(Pair(i, r.claim, kp, result.score, kp in r.makes) for kp, result in assessment.points.items())
        relevance.append(assessment.relevance)
        if assessment.copied_sentences:
            copied.append(i)
    return Scored(pairs, relevance, copied)


def unit_scores(matcher: Matcher, rebuttals: list[Labelled], knowledge: Knowledge,
                essay: Essay | None = None) -> list[dict]:
    """Cosine and judge of every unit of every rebuttal against every key point of its claim.

    Kept out of fold beside the judge's weights, they let any reading rule (``replay``) be judged
    on the same numbers without training again.
    """
    out = []
    for i, r in enumerate(rebuttals):
        points = {kp.id: kp.text for kp in knowledge.claims[r.claim].key_points}
        passages = claim_passage_texts(knowledge, r.claim, essay) if essay is not None else ()
        reading = matcher.read(r.text, passages)
        cosines = matcher.cosines(reading.units, points)
        cells = [(u, t) for u in reading.units for t in points.values()]
        judge = matcher.judge.score(cells).reshape(len(reading.units), len(points)) if cells else np.zeros_like(cosines)
        out.append({"rebuttal": i, "points": list(points), "whole": reading.whole,
                    "cosine": np.round(cosines, 5).tolist(), "judge": np.round(judge, 5).tolist()})
    return out


def _cells(record: dict, shortlist: int | None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A kept record's judge scores and the cells the matcher would read under ``shortlist``."""
    cosines = np.asarray(record["cosine"], dtype=np.float32)
    if not cosines.size:
        return cosines, []
    always = [len(cosines) - 1] if record["whole"] else []
    return np.asarray(record["judge"], dtype=np.float32), judged_cells(cosines, shortlist, always)


def replay(records: list[dict], rebuttals: list[Labelled], shortlist: int | None) -> list[Pair]:
    """The scores the matcher would give with ``shortlist`` (and the whole answer), from ``unit_scores``."""
    pairs = []
    for record in records:
        r = rebuttals[record["rebuttal"]]
        best = np.zeros(len(record["points"]), dtype=np.float32)
        judge, cells = _cells(record, shortlist)
        for i, j in cells:
            best[j] = max(best[j], judge[i, j])
        pairs.extend(Pair(record["rebuttal"], r.claim, kp, float(best[j]), kp in r.makes)
                     for j, kp in enumerate(record["points"]))
    return pairs


def judged_per_rebuttal(records: list[dict], shortlist: int | None) -> float:
    """How many (unit, key point) pairs the judge reads per rebuttal under a rule: what it costs."""
    return sum(len(_cells(record, shortlist)[1]) for record in records) / max(len(records), 1)


RULES: tuple[int | None, ...] = (None, 3, 2, 1, 0)
"""Shortlists compared by ``rules``: every unit, the 3, 2 or 1 closest, the whole answer alone."""


def rules(records: list[dict], rebuttals: list[Labelled]) -> dict[int | None, tuple[Counts, float]]:
    """Each shortlist's cross-validated figures and judged pairs per rebuttal, on the same out-of-fold scores."""
    fold = folds_of(rebuttals)
    return {k: (cross_validate(replay(records, rebuttals, k), fold)[0], judged_per_rebuttal(records, k)) for k in RULES}


RULE_NOISE = 0.01
"""F1 differences smaller than this are within what ~250 positive pairs can tell apart."""


def choose_rule(table: dict[int | None, tuple[Counts, float]]) -> int | None:
    """The cheapest rule whose cross-validated F1 is within ``RULE_NOISE`` of the best: speed is not noise."""
    best = max(f.f1 for f, _ in table.values())
    return min((k for k, (f, _) in table.items() if f.f1 >= best - RULE_NOISE), key=lambda k: table[k][1])


def rule_name(shortlist: int | None) -> str:
    if shortlist is None:
        return "every unit + the whole answer"
    if shortlist == 0:
        return "the whole answer alone"
    return f"the {shortlist} closest units + the whole answer"


def rules_text(table: dict[int | None, tuple[Counts, float]], chosen: int | None) -> str:
    lines = ["reading rule (same out-of-fold scores)   precision  recall  F1     judged pairs per rebuttal"]
    for k, (f, cost) in table.items():
        mark = "  <- chosen" if k == chosen else ""
        lines.append(f"  {rule_name(k):<38} {f.precision:.3f}      {f.recall:.3f}   {f.f1:.3f}  {cost:5.1f}{mark}")
    lines.append(f"(the cheapest rule within {RULE_NOISE} F1 of the best is chosen)")
    return "\n".join(lines)


def figures(pairs: list[Pair], threshold: float) -> Counts:
    tp = sum(p.gold and p.score >= threshold for p in pairs)
    fp = sum(not p.gold and p.score >= threshold for p in pairs)
    fn = sum(p.gold and p.score < threshold for p in pairs)
    return Counts(tp, fp, fn)


def sweep(pairs: list[Pair], thresholds: list[float] = SWEEP) -> list[tuple[float, Counts]]:
    return [(t, figures(pairs, t)) for t in thresholds]


def choose(curve: list[tuple[float, Counts]]) -> float:
    """The threshold of best micro-F1; among equals, the middle one of the best run."""
    best = max(f.f1 for _, f in curve)
    tied = [t for t, f in curve if abs(f.f1 - best) < 1e-12]
    return tied[len(tied) // 2]


def folds_of(rebuttals: list[Labelled], folds: int = FOLDS) -> list[int]:
    """Fold of each rebuttal, dealt round-robin within its claim so every fold sees every claim."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for r in rebuttals:
        out.append(seen[r.claim] % folds)
        seen[r.claim] += 1
    return out


def cross_validate(pairs: list[Pair], fold: list[int], folds: int = FOLDS,
                   only: Callable[[Pair], bool] | None = None) -> tuple[Counts, list[float]]:
    """Each fold judged at the threshold the other folds choose; ``only`` counts a subset of the judged pairs."""
    tp = fp = fn = 0
    chosen = []
    for k in range(folds):
        train = [p for p in pairs if fold[p.rebuttal] != k]
        test = [p for p in pairs if fold[p.rebuttal] == k and (only is None or only(p))]
        threshold = choose(sweep(train))
        chosen.append(threshold)
        held = figures(test, threshold)
        tp, fp, fn = tp + held.tp, fp + held.fp, fn + held.fn
    return Counts(tp, fp, fn), chosen


def cross_validate_by_group(pairs: list[Pair], fold: list[int], group_of: Mapping[str, str],
                            folds: int = FOLDS) -> dict[str, Counts]:
    """Each group's share of one cross-validation: every fold at the one threshold the other folds choose."""
    return {g: cross_validate(pairs, fold, folds, only=lambda p, g=g: group_of[p.claim] == g)[0]
            for g in dict.fromkeys(group_of[p.claim] for p in pairs)}


def per_point(pairs: list[Pair], threshold: float) -> dict[str, tuple[Counts, int]]:
    """Counts and positives of each key point, in claims-file order."""
    grouped: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        grouped[p.point].append(p)
    return {kp: (figures(group, threshold), sum(p.gold for p in group)) for kp, group in grouped.items()}


@dataclass
class Calibration:
    threshold: float
    in_sample: Counts
    cross_validated: Counts
    fold_thresholds: list[float]
    curve: list[tuple[float, Counts]]
    points: dict[str, tuple[Counts, int]]
    claims: dict[str, Counts]
    groups: dict[str, Counts]
    """Cross-validated figures of each set of positions (the core claims, the positions added beside them)."""
    rebuttals: int
    pairs: int
    least_relevant: float
    """The lowest relevance of a labelled rebuttal that makes a point (what the off-topic floor must stay under)."""
    below_floor: list[int]
    """Rebuttals read as off topic: only ones that make no point may be."""
    copied: list[int]
    twins: list[tuple[str, str, float]]


def calibrate(
    matcher: Matcher,
    rebuttals: list[Labelled],
    knowledge: Knowledge,
    essay: Essay | None = None,
    held_out: list[Pair] | None = None,
) -> Calibration:
    """The threshold and its figures.

    ``held_out`` are out-of-fold scores (each rebuttal scored by a judge trained without it):
    when given, the threshold, the per-point table and the cross-validated figure come from them,
    and only the in-sample figure is the shipped matcher's own.
    """
    scored = score_pairs(matcher, rebuttals, knowledge, essay)
    pairs = scored.pairs
    honest = held_out if held_out is not None else pairs
    curve = sweep(honest)
    threshold = choose(curve)
    fold = folds_of(rebuttals)
    cv, chosen = cross_validate(honest, fold)
    groups = cross_validate_by_group(honest, fold, knowledge.group_of)
    return Calibration(
        threshold=threshold,
        in_sample=figures(pairs, threshold),
        cross_validated=cv,
        fold_thresholds=chosen,
        curve=curve,
        points=per_point(honest, threshold),
        claims={c: figures([p for p in honest if p.claim == c], threshold) for c in dict.fromkeys(p.claim for p in honest)},
        groups=groups,
        rebuttals=len(rebuttals),
        pairs=len(pairs),
        least_relevant=min((v for v, r in zip(scored.relevance, rebuttals, strict=True) if r.makes), default=0.0),
        below_floor=[i for i, v in enumerate(scored.relevance) if v < matcher.scoring.off_topic_floor],
        copied=scored.copied,
        twins=twins(matcher, knowledge, TWIN_COSINE),
    )


def out_of_fold_record(folder: Path, data: Path) -> dict | None:
    """The out-of-fold record kept beside the judge's weights, if it was made from this very file."""
    import hashlib
    import json

    from bot.scoring.adapt import OOF_FILE

    path = folder / OOF_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("data", {}).get(data.name) != hashlib.sha256(data.read_bytes()).hexdigest():
        return None
    return record


def held_out_pairs(record: dict, rebuttals: list[Labelled], shortlist: int | None = 3) -> list[Pair]:
    """A kept record's scores under the reading rule ``shortlist`` (older records hold one rule's scores only)."""
    if "units" in record:
        return replay(record["units"], rebuttals, shortlist)
    return [
        Pair(index, rebuttals[index].claim, point, float(score), point in rebuttals[index].makes)
        for index, point, score in record["scores"]
    ]


def out_of_fold(folder: Path, data: Path, rebuttals: list[Labelled], shortlist: int | None = 3) -> list[Pair] | None:
    """Out-of-fold scores under the reading rule ``shortlist``, if they were made from this very file."""
    record = out_of_fold_record(folder, data)
    return None if record is None else held_out_pairs(record, rebuttals, shortlist)


def twins(matcher: Matcher, knowledge: Knowledge, threshold: float) -> list[tuple[str, str, float]]:
    """Key points of one claim so alike that a sentence making one would likely be credited with both."""
    out = []
    for position in knowledge.claims.values():
        ids = [kp.id for kp in position.key_points]
        vectors = matcher.encoder.encode([kp.text for kp in position.key_points])
        similar = vectors @ vectors.T
        out.extend(
            (ids[a], ids[b], float(similar[a, b]))
            for a in range(len(ids))
            for b in range(a + 1, len(ids))
            if similar[a, b] >= threshold
        )
    return sorted(out, key=lambda t: -t[2])


def calibration_text(result: Calibration) -> str:
    lines = [f"{result.rebuttals} rebuttals, {result.pairs} (rebuttal, key point) pairs"]
    lines.append("threshold  precision  recall  F1")
    for t, f in result.curve:
        if round(t * 100) % 5 == 0 or t == result.threshold:
            mark = "  <- chosen" if t == result.threshold else ""
            lines.append(f"  {t:.2f}      {f.precision:.3f}    {f.recall:.3f}  {f.f1:.3f}{mark}")
    lines.append("")
    lines.append(f"{'key point':<10} {'precision':>9} {'recall':>7} {'F1':>6} {'made':>5}")
    for kp, (f, support) in result.points.items():
        lines.append(f"{kp:<10} {f.precision:>9.3f} {f.recall:>7.3f} {f.f1:>6.3f} {support:>5}")
    lines.append("")
    lines.extend(
        f"{claim:<34} precision {f.precision:.3f} recall {f.recall:.3f} F1 {f.f1:.3f}" for claim, f in result.claims.items()
    )
    s, c = result.in_sample, result.cross_validated
    lines.append("")
    lines.append(
        f"overall at {result.threshold:.2f} (in sample):  precision {s.precision:.3f} recall {s.recall:.3f} F1 {s.f1:.3f}"
    )
    folds = ", ".join(f"{t:.2f}" for t in result.fold_thresholds)
    lines.append(
        f"overall, {FOLDS}-fold cross-validated:   precision {c.precision:.3f} recall {c.recall:.3f} F1 {c.f1:.3f}"
        f" (fold thresholds {folds})"
    )
    if len(result.groups) > 1:
        lines.extend(f"  of which {g}: precision {f.precision:.3f} recall {f.recall:.3f} F1 {f.f1:.3f}"
                     f" ({f.tp + f.fn} points made)" for g, f in result.groups.items())
    weakest = sorted((f.f1, kp, n) for kp, (f, n) in result.points.items() if f.f1 < 0.6)
    lines.append("weakest key points (F1, times made): " + (", ".join(f"{kp} {f1:.2f}/{n}" for f1, kp, n in weakest) or "none"))
    alike = ", ".join(f"{a}~{b} {s:.2f}" for a, b, s in result.twins)
    lines.append(f"key points of one claim as alike as the threshold: {alike or 'none'}")
    lines.append(
        f"least relevant labelled rebuttal that makes a point: {result.least_relevant:.3f};"
        f" {len(result.below_floor)} below the off-topic floor {result.below_floor};"
        f" {len(result.copied)} taken for copies {result.copied}"
    )
    return "\n".join(lines)


def scoring_record(result: Calibration, data: Path, model: str, shortlist: int | None = None) -> dict:
    chosen_on = _relative(data)
    return {
        "threshold": result.threshold,
        "shortlist": shortlist,
        "off_topic_floor": OFF_TOPIC_FLOOR,
        "off_topic_note": (
            "set by hand: 16 chit-chat lines scored at most 0.19,"
            f" the least relevant labelled rebuttal that makes a point {result.least_relevant:.2f}"
        ),
        "chosen": dt.date.today().isoformat(),
        "chosen_on": chosen_on,
        "rebuttals": result.rebuttals,
        "pairs": result.pairs,
        "model": model,
        "rule": "best micro-F1 over thresholds 0.05-0.95 by 0.01; ties to the middle of the tied run",
        "in_sample": result.in_sample.as_dict(),
        "cross_validated": {**result.cross_validated.as_dict(), "folds": FOLDS},
        "cross_validated_by_group": {g: f.as_dict() for g, f in result.groups.items()},
        "out_of_fold_by_key_point": {kp: {**f.as_dict(), "made": n} for kp, (f, n) in result.points.items()},
    }


def write_scoring(record: dict, path: Path = SCORING_FILE) -> None:
    header = (
        "# The key point matcher's calibrated settings, read by the tutor at run time.\n"
        "# Written by `python -m bot calibrate --write`; edit the labelled set, not this file.\n"
    )
    text = yaml.safe_dump(record, sort_keys=False, allow_unicode=True, default_flow_style=None, width=110)
    path.write_text(header + text, encoding="utf-8")


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(
    data: Path = REBUTTALS, claims: Path = CLAIMS_FILE, write: bool = False, out: Path = SCORING_FILE,
    zero_shot: bool = False, unseen: Path | None = UNSEEN,
) -> int:
    """Calibrate the shipped matcher (the trained judge), or with ``zero_shot`` the MiniLM cosine alone.

    With out-of-fold scores and ``unseen`` rebuttals, the out-of-fold threshold stays the one for the
    essay's sentences and students' answers are judged at the thresholds chosen on ``unseen``.
    """
    from bot.essay.parse import load_essay
    from bot.scoring.judge import shared_judge
    from bot.search.embeddings import shared_encoder

    knowledge = load_knowledge(claims)
    rebuttals = load_rebuttals(data)
    problems = check_labels(rebuttals, knowledge)
    if problems:
        print(f"{data} does not fit {claims}:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    encoder = shared_encoder()
    essay = load_essay(claims.parent) if (claims.parent / "essay.yml").exists() else None
    scoring = load_scoring(out)
    judge = None if zero_shot else shared_judge()
    record = None if judge is None else out_of_fold_record(judge.folder, data)
    shortlist = scoring.shortlist
    if record is not None and "units" in record:
        table = rules(record["units"], rebuttals)
        shortlist = choose_rule(table)
        print(rules_text(table, shortlist) + "\n")
    matcher = Matcher(Memo(encoder), scoring, judge=judge, shortlist=shortlist if judge else None,
                      whole_text=judge is not None)
    held_out = None if record is None else held_out_pairs(record, rebuttals, shortlist)
    if judge is not None and held_out is None:
        print(f"note: no out-of-fold scores for {data} beside {judge.folder}: figures are in-sample"
              " (`make train-matcher` makes them)", file=sys.stderr)
    result = calibrate(matcher, rebuttals, knowledge, essay, held_out)
    print(calibration_text(result))
    if held_out is not None:
        print("(threshold, per-point table and cross-validated figures from out-of-fold scores:"
              " each rebuttal judged by a model trained without it)")
    fresh = None
    if held_out is not None and unseen is not None and unseen.is_file():
        from bot.scoring.unseen import choose_unseen, unseen_text

        waiting = load_rebuttals(unseen)
        problems = check_labels(waiting, knowledge)
        if problems:
            print(f"{unseen} does not fit {claims}:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        pairs = score_pairs(matcher, waiting, knowledge, essay).pairs
        fresh = choose_unseen(pairs, folds_of(waiting), knowledge.group_of, result.threshold)
        print("\n" + unseen_text(fresh, _relative(unseen)))
    if write:
        model = encoder.name if judge is None else f"{judge.name} (shortlist {shortlist} by {encoder.name})"
        record = scoring_record(result, data, model, matcher.shortlist)
        if fresh is not None:
            from bot.scoring.unseen import unseen_record

            fresh_record = unseen_record(fresh, _relative(unseen))
            head = {key: fresh_record.pop(key) for key in ("threshold", "group_thresholds") if key in fresh_record}
            note = (f"students' answers: chosen on {_relative(unseen)} (students_answers below); the essay's"
                    f" sentences: passage_threshold, chosen out of fold on {record['chosen_on']}")
            record = {**head, "passage_threshold": result.threshold, "threshold_note": note,
                      **{k: v for k, v in record.items() if k != "threshold"}, **fresh_record}
        write_scoring(record, out)
        print(f"threshold {record['threshold']:.2f} written to {out}")
    return 0
