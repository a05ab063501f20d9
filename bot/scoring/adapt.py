"""Stage 2 of the judge: adapt the ArgKP cross-encoder to students' rebuttals, cross-validated.

ArgKP's key points are short slogans and its arguments one sentence; a student's rebuttal runs to
a paragraph and our key points are whole sentences. Trained on ArgKP alone the judge scored our
labelled rebuttals worse than MiniLM's cosine, so it is fine-tuned on them (each rebuttal against
every key point of its claim), with ArgKP pairs replayed so it keeps what it learnt there.

The rebuttals' figures must come from answers the judge never saw: five models are trained, each
without one fold, and score that fold through the tutor's own scoring path. Those out-of-fold
scores are kept beside the weights; ``bot calibrate`` chooses the threshold on them.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from bot.essay.knowledge import Knowledge, load_knowledge
from bot.scoring.calibrate import FOLDS, REBUTTALS, Labelled, Memo, folds_of, load_rebuttals, score_pairs

__all__ = ["OOF_FILE", "main", "practice_matcher", "rebuttal_pairs"]

OOF_FILE = "rebuttals_oof.json"
REPLAY = 1000
REPEAT = 2
EPOCHS = 1
LEARNING_RATE = 3e-5
BATCH = 16


def rebuttal_pairs(rebuttals: list[Labelled], knowledge: Knowledge) -> list[tuple[str, str, int]]:
    """Each rebuttal, whole, against every key point of its claim: 1 where it makes the point."""
    return [
        (r.text, kp.text, int(kp.id in r.makes)) for r in rebuttals for kp in knowledge.claims[r.claim].key_points
    ]


def practice_matcher(judge, shortlist: int | None = 3):
    """The matcher as practice rounds run it: sentences, pairs and the whole answer, judged."""
    from bot.scoring.matcher import Matcher
    from bot.search.embeddings import shared_encoder

    return Matcher(Memo(shared_encoder()), judge=judge, shortlist=shortlist, whole_text=True)


def main(base: Path, data_dir: Path, work: Path, seed: int, path: Path = REBUTTALS) -> tuple[Path, dict]:
    from bot.essay.parse import load_essay
    from bot.scoring.argkp import load_split
    from bot.scoring.judge import Judge
    from bot.scoring.train import fit

    knowledge, essay, rebuttals = load_knowledge(), load_essay(), load_rebuttals(path)
    fold = folds_of(rebuttals)
    replay = random.Random(seed).sample(load_split(data_dir, "train").pairs(), REPLAY)
    scores: list[list] = []
    for k in range(FOLDS):
        train = [r for r, f in zip(rebuttals, fold, strict=True) if f != k]
        held = [i for i, f in enumerate(fold) if f == k]
        pairs = rebuttal_pairs(train, knowledge) * REPEAT + replay
        (model,) = fit(str(base), pairs, work / f"fold-{k}", EPOCHS, seed, LEARNING_RATE, BATCH, save="no")
        scored = score_pairs(practice_matcher(Judge(model, verify=False)), [rebuttals[i] for i in held],
                             knowledge, essay)
        scores.extend([held[p.rebuttal], p.point, round(p.score, 5)] for p in scored.pairs)
        print(f"fold {k}: {len(held)} rebuttals scored by a judge that never saw them", flush=True)
    pairs = rebuttal_pairs(rebuttals, knowledge) * REPEAT + replay
    (final,) = fit(str(base), pairs, work / "final", EPOCHS, seed, LEARNING_RATE, BATCH, save="no")
    cv = {
        "data": {path.name: hashlib.sha256(path.read_bytes()).hexdigest()},
        "settings": {"folds": FOLDS, "replay_argkp_pairs": REPLAY, "repeat": REPEAT, "epochs": EPOCHS,
                     "learning_rate": LEARNING_RATE, "batch": BATCH, "rebuttals": len(rebuttals)},
        "scores": scores,
    }
    return final, cv
