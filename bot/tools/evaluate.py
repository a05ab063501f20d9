"""Figures on the held-out set: intents, charges, rejections of non-claims, passage hits.

The model is loaded in process, as the Rasa server loads it; the reply's passage comes from
the same tutor the action server runs.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bot.settings import BUILD_DIR, EVAL_DIR, ROOT
from bot.tutoring.tutor import Tutor

HELD_OUT = EVAL_DIR / "nlu_heldout.yml"
POLARITY = EVAL_DIR / "nlu_heldout_polarity.yml"
"""A second held-out set, written blind to data/nlu/ and to the first: every claim asserted through a
negation, a concession, a question, a hedge and a paraphrase, and denied in its own words."""
BLIND = EVAL_DIR / "nlu_heldout_blind.yml"
"""A third, written by someone who read only the claims and the essay: nothing was tuned on it."""
FRESH = EVAL_DIR / "nlu_heldout_fresh.yml"
"""A fourth, written the same way on 2026-12-06 after the first three had been read error by error:
read once per round after the first time its errors shaped one (round 12)."""
FIFTH = EVAL_DIR / "nlu_heldout_fifth.yml"
"""A fifth, written the same way on 2026-12-07 in new shapes (slang, two sentences, short denials,
sceptical questions), before round 13: scored by four candidates there, its errors read in round 14."""
SIXTH = EVAL_DIR / "nlu_heldout_sixth.yml"
"""A sixth, written the same way before round 14 in other shapes (hedges, endorsed attributions, fragments,
exam theses, "No," replies, hedged doubts): the judge of round 14, scored four times there."""
SEVENTH = EVAL_DIR / "nlu_heldout_seventh.yml"
"""A seventh, written the same way after round 14 in other shapes (comparisons, sarcasm, "because"
answers, text-speak, dismissals, changes of mind, corrections): round 15's judge, its errors never read."""
EIGHTH = EVAL_DIR / "nlu_heldout_eighth.yml"
"""An eighth, written the same way after round 15 in other shapes (conditionals, rhetorical questions,
bare answers, essay conclusions, numbered reasons; denials by "if X, why", concession, counterfactual,
rejected hearsay, "only if you ignore"): round 15b's judge."""
NINTH = EVAL_DIR / "nlu_heldout_ninth.yml"
"""A ninth, written the same way after round 15b in other shapes ("Yes," openings, "you can't deny",
approved sources, a stray first sentence, comparisons with other regimes, three-word claims; denials by
"No,", "I disagree with the idea that", the counter-fact alone, mocking analogy, hedged doubt): round
15c's judge, scored twice there (shipped, and with the stance reader), its errors not read."""
LATER_SETS = (("polarity", POLARITY, "polarity held-out"), ("blind", BLIND, "blind held-out"),
              ("fresh", FRESH, "fresh held-out"), ("fifth", FIFTH, "fifth held-out"),
              ("sixth", SIXTH, "sixth held-out"), ("seventh", SEVENTH, "seventh held-out"),
              ("eighth", EIGHTH, "eighth held-out"), ("ninth", NINTH, "ninth held-out"))
"""The sets after the first: the key of each set's figures in the results and the name it is printed under."""
TOGETHER = (("both", "both"), ("all", "all three"), ("all_four", "all four"), ("all_five", "all five"),
            ("all_six", "all six"), ("all_seven", "all seven"), ("all_eight", "all eight"),
            ("all_nine", "all nine"))
"""The figures of the first n + 2 sets together: their key in the results and the name printed."""
RESULTS = BUILD_DIR / "results"
SUMMARY = ("examples", "intent_accuracy", "claim_accuracy", "non_claim_rejection")


@dataclass
class Example:
    text: str
    intent: str
    charges: tuple[str, ...]


@dataclass
class Prediction:
    intent: str
    confidence: float
    charges: tuple[str, ...]


def load_examples(path: Path = HELD_OUT) -> list[Example]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [
        Example(
            m.get("text"),
            m.get("intent"),
            tuple(dict.fromkeys(e["value"] for e in m.get("entities") or [] if e["entity"] == "charge")),
        )
        for m in data.intent_examples
    ]


def predict(model: Path, *example_sets: list[Example]) -> list[list[Prediction]]:
    """The model's reading of each set's messages, the model loaded once."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))

    async def run(examples: list[Example]) -> list[Prediction]:
        out = []
        for example in examples:
            parsed = await agent.parse_message(example.text)
            charges = tuple(dict.fromkeys(e["value"] for e in parsed.get("entities", []) if e["entity"] == "charge"))
            out.append(Prediction(parsed["intent"]["name"], parsed["intent"].get("confidence", 0.0), charges))
        return out

    return [asyncio.run(run(examples)) for examples in example_sets]


def metrics(examples: list[Example], predictions: list[Prediction], tutor: Tutor | None) -> dict:
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    gold = [e.intent for e in examples]
    pred = [p.intent for p in predictions]
    labels = sorted(set(gold))
    claims = [i for i, e in enumerate(examples) if Tutor.is_claim(e.intent)]
    others = [i for i, e in enumerate(examples) if not Tutor.is_claim(e.intent)]
    precision, recall, f1, support = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    charge_gold = sum(len(e.charges) for e in examples)
    charge_found = sum(len(set(e.charges) & set(p.charges)) for e, p in zip(examples, predictions, strict=True))
    result = {
        "examples": len(examples),
        "intent_accuracy": sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold),
        "macro_f1": float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)),
        "claim_accuracy": sum(gold[i] == pred[i] for i in claims) / max(1, len(claims)),
        "non_claim_rejection": sum(not Tutor.is_claim(pred[i]) for i in others) / max(1, len(others)),
        "charge_recall": charge_found / max(1, charge_gold),
        "per_intent": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=False)
        },
        "errors": [
            {"text": e.text, "label": e.intent, "predicted": p.intent, "confidence": round(p.confidence, 3)}
            for e, p in zip(examples, predictions, strict=False) if e.intent != p.intent
        ],
        "charge_misses": [
            {"text": e.text, "label": list(e.charges), "predicted": list(p.charges)}
            for e, p in zip(examples, predictions, strict=False) if set(e.charges) - set(p.charges)
        ],
        "confusions": Counter(f"{g} -> {p}" for g, p in zip(gold, pred, strict=False) if g != p).most_common(),
    }
    if tutor is not None:
        result["passage_hits"] = passage_hits(examples, predictions, tutor)
        result["groups"] = group_figures(result, examples, predictions, tutor)
    return result


def passage_hits(examples: list[Example], predictions: list[Prediction], tutor: Tutor) -> dict:
    """For each claim, how often the reply quotes a passage curated for it, and how long the quote is."""
    per_claim: dict[str, list[bool]] = {}
    quoted: dict[str, list[int]] = {}
    for example, prediction in zip(examples, predictions, strict=False):
        if not Tutor.is_claim(example.intent):
            continue
        hit = False
        if Tutor.is_claim(prediction.intent) and prediction.intent in tutor.knowledge.claims:
            charge = prediction.charges[0] if prediction.charges else None
            rebuttal = tutor.rebut(prediction.intent, example.text, charge, set())
            curated = set(tutor.knowledge.claims[example.intent].passages)
            for value in example.charges:
                curated |= set(tutor.knowledge.charges[value].passages)
            hit = rebuttal.hit is not None and rebuttal.hit.id in curated and bool(rebuttal.hit.passage.text)
            if rebuttal.hit is not None:
                charge_key = rebuttal.charge.key if rebuttal.charge else None
                focus = tutor.focus(rebuttal.hit, prediction.intent, charge_key, example.text)
                quoted.setdefault(example.intent, []).append(focus.words)
        per_claim.setdefault(example.intent, []).append(hit)
    total = [h for hits in per_claim.values() for h in hits]
    return {
        "overall": sum(total) / max(1, len(total)),
        "per_claim": {claim: sum(h) / len(h) for claim, h in sorted(per_claim.items())},
        "quoted_words": quoted,
    }


def group_figures(result: dict, examples: list[Example], predictions: list[Prediction], tutor: Tutor) -> dict:
    """Claim accuracy, passage hit rate and quote length for each group of positions (claims.yml)."""
    import statistics

    group_of = tutor.knowledge.group_of
    out: dict[str, dict] = {}
    for group in dict.fromkeys(group_of.values()):
        members = {k for k, g in group_of.items() if g == group}
        pairs = [(e, p) for e, p in zip(examples, predictions, strict=False) if e.intent in members]
        hits = [h for claim, rate in result["passage_hits"]["per_claim"].items() if claim in members for h in [rate]]
        words = [w for claim, ws in result["passage_hits"]["quoted_words"].items() if claim in members for w in ws]
        out[group] = {
            "examples": len(pairs),
            "claim_accuracy": sum(e.intent == p.intent for e, p in pairs) / max(1, len(pairs)),
            "passage_hit_rate": statistics.mean(hits) if hits else 0.0,
            "quoted_words_median": statistics.median(words) if words else 0,
            "quoted_words_max": max(words, default=0),
        }
    return out


def confusion_png(examples: list[Example], predictions: list[Prediction], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    labels = sorted({e.intent for e in examples} | {p.intent for p in predictions})
    matrix = confusion_matrix([e.intent for e in examples], [p.intent for p in predictions], labels=labels)
    fig, ax = plt.subplots(figsize=(12, 10))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    for (row, col), value in __import__("numpy").ndenumerate(matrix):
        if value:
            ax.text(col, row, str(value), ha="center", va="center", fontsize=6,
                    color="white" if value > matrix.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("held-out label")
    ax.set_title("Intent confusion on the held-out set")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figures_text(result: dict) -> str:
    lines = [
        f"held-out examples         {result['examples']}",
        f"intent accuracy           {result['intent_accuracy']:.3f}",
        f"macro-F1                  {result['macro_f1']:.3f}",
        f"claim accuracy            {result['claim_accuracy']:.3f}",
        f"non-claim rejection rate  {result['non_claim_rejection']:.3f}",
        f"charge-entity recall      {result['charge_recall']:.3f}",
    ]
    if "passage_hits" in result:
        lines.append(f"passage hit rate          {result['passage_hits']['overall']:.3f}")
        words = [w for ws in result["passage_hits"]["quoted_words"].values() for w in ws]
        if words:
            import statistics

            lines.append(f"quoted words, first answer median {statistics.median(words):.0f}, longest {max(words)}")
    if "groups" in result:
        lines += ["", f"{'positions':18} {'n':>4} {'claim acc':>9} {'passages':>8} {'quote median':>12} {'longest':>7}"]
        for group, row in result["groups"].items():
            lines.append(f"{group:18} {row['examples']:4d} {row['claim_accuracy']:9.3f} {row['passage_hit_rate']:8.3f}"
                         f" {row['quoted_words_median']:12.0f} {row['quoted_words_max']:7d}")
    lines += ["", f"{'intent':36} {'prec':>6} {'rec':>6} {'f1':>6} {'n':>4}"]
    for label, row in result["per_intent"].items():
        lines.append(f"{label:36} {row['precision']:6.2f} {row['recall']:6.2f} {row['f1']:6.2f} {row['support']:4d}")
    if "passage_hits" in result:
        lines += ["", "passage hit rate per claim"]
        lines += [f"  {claim:34} {rate:.2f}" for claim, rate in result["passage_hits"]["per_claim"].items()]
    if result["confusions"]:
        lines += ["", "most frequent confusions"]
        lines += [f"  {pair} ({count})" for pair, count in result["confusions"][:12]]
    if "polarity" in result:
        lines += ["", f"{'set':28} {'n':>4} {'intent acc':>10} {'claim acc':>9} {'rejection':>9}"]
        rows = [("held-out", result)]
        for (key, _, name), (together, together_name) in zip(LATER_SETS, TOGETHER, strict=True):
            if key in result:
                rows += [(name, result[key]), (together_name, result[together])]
        for name, row in rows:
            lines.append(f"{name:28} {row['examples']:4d} {row['intent_accuracy']:10.3f} {row['claim_accuracy']:9.3f}"
                         f" {row['non_claim_rejection']:9.3f}")
    return "\n".join(lines)


def main(model: Path, out: Path = RESULTS, with_passages: bool = True) -> dict:
    from bot.tutoring.tutor import shared_tutor

    held = [load_examples(path) for path in (HELD_OUT, *(path for _, path, _ in LATER_SETS))]
    predicted = predict(model, *held)
    result = metrics(held[0], predicted[0], shared_tutor() if with_passages else None)
    for (key, _, _), examples, predictions in zip(LATER_SETS, held[1:], predicted[1:], strict=True):
        result[key] = metrics(examples, predictions, None)
    for first, (key, _) in enumerate(TOGETHER, start=2):
        together = metrics([e for ex in held[:first] for e in ex], [p for ps in predicted[:first] for p in ps], None)
        result[key] = {name: together[name] for name in SUMMARY}
    out.mkdir(parents=True, exist_ok=True)
    confusion_png(held[0], predicted[0], out / "confusion.png")
    (out / "eval.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(figures_text(result))
    print(f"\nconfusion matrix: {out / 'confusion.png'}\nfigures: {out / 'eval.json'}")
    return result


def compare(configs: list[Path], out: Path = BUILD_DIR / "compare") -> list[dict]:
    """Train each pipeline on the NLU data alone and evaluate it on the held-out set."""
    import subprocess
    import sys
    import time

    rows = []
    for config in configs:
        name = config.stem
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rasa", "train", "nlu", "-c", str(config), "--nlu", str(ROOT / "data" / "nlu"),
             "--fixed-model-name", name, "--out", str(out)],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - started
        print(f"\n== {name} (trained in {seconds:.0f} s)")
        result = main(out / f"{name}.tar.gz", out / name, with_passages=True)
        rows.append({"pipeline": name, "train_seconds": round(seconds), **{
            key: result[key] for key in ("claim_accuracy", "non_claim_rejection", "macro_f1", "charge_recall")
        }, "passage_hit_rate": result["passage_hits"]["overall"],
            "polarity_claim_accuracy": result["polarity"]["claim_accuracy"],
            "polarity_rejection": result["polarity"]["non_claim_rejection"]})
    print("\npipeline                 train s  claim acc  rejection  macro-F1  charges  passages  polarity claim / rejection")
    for row in rows:
        print(f"{row['pipeline']:24} {row['train_seconds']:7d}  {row['claim_accuracy']:9.3f}  "
              f"{row['non_claim_rejection']:9.3f}  {row['macro_f1']:8.3f}  {row['charge_recall']:7.3f}  "
              f"{row['passage_hit_rate']:8.3f}  {row['polarity_claim_accuracy']:.3f} / {row['polarity_rejection']:.3f}")
    (out / "comparison.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows
