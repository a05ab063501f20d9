"""Stage 2 of the judge: adapt the ArgKP cross-encoder to students' rebuttals, cross-validated.

ArgKP's key points are short slogans and its arguments one sentence; a student's rebuttal runs to
a paragraph and our key points are whole sentences. Trained on ArgKP alone the judge scored our
labelled rebuttals worse than MiniLM's cosine, so it is fine-tuned on them (each rebuttal against
every key point of its claim), with ArgKP pairs replayed so it keeps what it learnt there, and
with sentences written to make (or nearly make) each key point (``eval/key_point_paraphrases.yml``):
a rebuttal says which points it makes but not which of its sentences makes them, so these teach
the judge the sentence-level reading the tutor asks of it.

The rebuttals' figures must come from answers the judge never saw: five models are trained, each
without one fold, and score that fold through the tutor's own scoring path. Those out-of-fold
scores are kept beside the weights; ``bot calibrate`` chooses the threshold on them.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.essay.knowledge import Knowledge, Position, load_knowledge
from bot.scoring.calibrate import FOLDS, REBUTTALS, Labelled, Memo, folds_of, load_rebuttals, unit_scores
from bot.settings import EVAL_DIR

__all__ = ["MIX", "OOF_FILE", "PARAPHRASES", "Paraphrases", "blend", "load_paraphrases", "main",
           "paraphrase_pairs", "practice_matcher", "rebuttal_pairs"]

OOF_FILE = "rebuttals_oof.json"
PARAPHRASES = EVAL_DIR / "key_point_paraphrases.yml"
REPLAY = 1000
REPEAT = 2
EPOCHS = 1
LEARNING_RATE = 3e-5
BATCH = 16
MIX = 1.0
"""Share of stage 2 in the shipped weights: stage 1 + MIX x (stage 2 - stage 1), applied to every fold's
model as to the final one, so the out-of-fold scores are the blend's. 1.0 ships stage 2 as trained."""


def rebuttal_pairs(rebuttals: list[Labelled], knowledge: Knowledge) -> list[tuple[str, str, int]]:
    """Each rebuttal, whole, against every key point of its claim: 1 where it makes the point."""
    return [
        (r.text, kp.text, int(kp.id in r.makes)) for r in rebuttals for kp in knowledge.claims[r.claim].key_points
    ]


@dataclass(frozen=True)
class Paraphrases:
    """Sentences written for one key point: ones that make it, and near misses on its topic that do not."""

    point: str
    makes: tuple[str, ...]
    near_misses: tuple[str, ...]


def _claim_of(knowledge: Knowledge) -> dict[str, Position]:
    """The claim each key point answers: a sentence is only ever paired with its own claim's points."""
    return {kp.id: claim for claim in knowledge.claims.values() for kp in claim.key_points}


def load_paraphrases(knowledge: Knowledge, path: Path = PARAPHRASES) -> list[Paraphrases]:
    """The labelled sentences, each naming a key point the claims file has (a wrong id is an error, not a skip)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    known = _claim_of(knowledge)
    out = []
    for number, entry in enumerate(data.get("paraphrases") or []):
        point = entry.get("point")
        if point not in known:
            raise ValueError(f"{path}: entry {number} names {point!r}, which is no key point of the claims file")
        out.append(Paraphrases(point, tuple(" ".join(t.split()) for t in entry.get("makes") or ()),
                               tuple(" ".join(t.split()) for t in entry.get("near_misses") or ())))
    return out


SIBLINGS = True
"""Also pair a sentence that makes a point with its claim's other points, as 0. Noisy (a sentence
written for one point may state another's fact as well), but measured: without these pairs the
out-of-fold F1 fell from 0.812 to 0.785 (core claims 0.783 to 0.728), `docs/matcher.md`."""


def paraphrase_pairs(entries: list[Paraphrases], knowledge: Knowledge,
                     siblings: bool = SIBLINGS) -> list[tuple[str, str, int]]:
    """A sentence that makes a point: 1 against it (and with ``siblings`` 0 against its claim's other
    points); a near miss: 0 against its point. Never paired with another claim's points."""
    claim_of = _claim_of(knowledge)
    pairs = []
    for entry in entries:
        points = claim_of[entry.point].key_points
        own = next(kp.text for kp in points if kp.id == entry.point)
        pairs.extend((sentence, own, 1) for sentence in entry.makes)
        pairs.extend((sentence, own, 0) for sentence in entry.near_misses)
        if siblings:
            pairs.extend((sentence, kp.text, 0) for sentence in entry.makes for kp in points if kp.id != entry.point)
    return pairs


def practice_matcher(judge, shortlist: int | None = 3):
    """The matcher as practice rounds run it: sentences, pairs and the whole answer, judged."""
    from bot.scoring.matcher import Matcher
    from bot.search.embeddings import shared_encoder

    return Matcher(Memo(shared_encoder()), judge=judge, shortlist=shortlist, whole_text=True)


def blend(start: Path, tuned: Path, mix: float, out: Path) -> Path:
    """Weights ``start + mix * (tuned - start)`` (weight-space ensembling, WiSE-FT), saved to ``out``.

    Stage 2 moves the judge towards our key points' style and away from ArgKP; a point on the
    straight line between the two models trades one for the other (``docs/matcher.md`` measures
    how: almost linearly, for the run of 2026-12-06).
    """
    from sentence_transformers.cross_encoder import CrossEncoder

    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"mix must be within [0, 1], not {mix}")
    first = CrossEncoder(str(start), device="cpu").model.state_dict()
    model = CrossEncoder(str(tuned), device="cpu")
    last = model.model.state_dict()
    if first.keys() != last.keys():
        raise ValueError(f"{start} and {tuned} are not the same architecture")
    model.model.load_state_dict({k: first[k] + mix * (v - first[k]) if v.is_floating_point() else v
                                 for k, v in last.items()})
    model.save_pretrained(str(out))
    return out


def _adapt(base: Path, pairs: list[tuple[str, str, int]], work: Path, seed: int) -> Path:
    """One stage-2 model, blended with ``base`` at ``MIX``: the fold models and the final one alike."""
    from bot.scoring.train import fit

    (model,) = fit(str(base), pairs, work, EPOCHS, seed, LEARNING_RATE, BATCH, save="no")
    return blend(base, model, MIX, work / "blend") if MIX < 1.0 else model


def main(base: Path, data_dir: Path, work: Path, seed: int, path: Path = REBUTTALS,
         paraphrases: Path = PARAPHRASES) -> tuple[Path, dict]:
    from bot.essay.parse import load_essay
    from bot.scoring.argkp import load_split
    from bot.scoring.judge import Judge

    knowledge, essay, rebuttals = load_knowledge(), load_essay(), load_rebuttals(path)
    fold = folds_of(rebuttals)
    replay = random.Random(seed).sample(load_split(data_dir, "train").pairs(), REPLAY)
    sentences = paraphrase_pairs(load_paraphrases(knowledge, paraphrases), knowledge)
    scores: list[dict] = []
    precision = "float32"
    for k in range(FOLDS):
        train = [r for r, f in zip(rebuttals, fold, strict=True) if f != k]
        held = [i for i, f in enumerate(fold) if f == k]
        pairs = rebuttal_pairs(train, knowledge) * REPEAT + replay + sentences
        model = _adapt(base, pairs, work / f"fold-{k}", seed)
        judge = Judge(model, verify=False)  # in the tutor's precision, so the scores are the ones it would give
        precision = judge.precision
        scored = unit_scores(practice_matcher(judge, shortlist=None), [rebuttals[i] for i in held], knowledge, essay)
        scores.extend({**record, "rebuttal": held[record["rebuttal"]]} for record in scored)
        print(f"fold {k}: {len(held)} rebuttals scored by a judge that never saw them", flush=True)
    pairs = rebuttal_pairs(rebuttals, knowledge) * REPEAT + replay + sentences
    final = _adapt(base, pairs, work / "final", seed)
    cv = {
        "data": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, paraphrases)},
        "settings": {"folds": FOLDS, "replay_argkp_pairs": REPLAY, "repeat": REPEAT, "epochs": EPOCHS,
                     "learning_rate": LEARNING_RATE, "batch": BATCH, "rebuttals": len(rebuttals),
                     "paraphrase_pairs": len(sentences), "sibling_negatives": SIBLINGS, "mix": MIX,
                     "precision": precision},
        "units": scores,
    }
    return final, cv
