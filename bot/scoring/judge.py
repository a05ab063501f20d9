"""The trained key point judge: a cross-encoder reading (text, key point) together, scored in [0, 1].

The weights ship in the repository (``models/key-point-matcher/``) with a manifest of their
SHA-256 sums; they are loaded once, lazily, offline. Missing or altered weights stop the caller
with an error naming the file and ``make train-matcher``: nothing falls back to another scorer.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.files import MANIFEST, check_manifest, sha256_of
from bot.settings import JUDGE_DIR, offline, scoring_precision

__all__ = ["JUDGE_DIR", "PRECISIONS", "Judge", "JudgeUnavailable", "check_judge", "resolve_precision", "shared_judge"]

BATCH = 8
"""Pairs per forward pass. sentence-transformers sorts the pairs by length, so small batches are
padded only to their own longest pair: 24 pairs of the bench's answer took 122 ms in batches of 8
against 206 ms in one batch (bfloat16; 285 against 477 ms in float32)."""
THREADS = max(1, min(2, os.cpu_count() or 1))
"""Intra-op threads for a batch of pairs (the encoder drops to one for a single query, and the
setting is the process's)."""


PRECISIONS = ("auto", "bfloat16", "float32")
"""How the judge computes: ``bfloat16`` runs its matrix products in bfloat16 under autocast (layer
norms, softmax and the output stay float32), ``float32`` throughout, ``auto`` the first where the
CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX) and the second elsewhere. See docs/matcher.md
for what bfloat16 changes in the scores and what it saves."""


def resolve_precision(precision: str) -> str:
    """``bfloat16`` or ``float32`` for a setting of ``PRECISIONS``; anything else is an error naming them."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown judge precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    import torch

    native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)()
    return "bfloat16" if native else "float32"


class JudgeUnavailable(RuntimeError):
    """The trained matcher's files are missing or not the ones its manifest names."""


def check_judge(folder: Path = JUDGE_DIR) -> dict:
    """The manifest, once every file it lists is present with the recorded hash."""
    return check_manifest(folder, "the trained key point matcher",
                          "run `make train-matcher` (or restore the folder from git)", JudgeUnavailable)


class Judge:
    """Scores (text, key point) pairs with a cross-encoder; the model is read on first use."""

    def __init__(self, folder: Path = JUDGE_DIR, verify: bool = True, precision: str | None = None) -> None:
        self.folder = Path(folder)
        self.verify = verify
        self.precision = resolve_precision(scoring_precision() if precision is None else precision)
        self._model = None
        self._lock = threading.Lock()
        self.manifest: dict = {}

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or self.folder.name)

    def _load(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    offline()
                    import torch
                    from sentence_transformers.cross_encoder import CrossEncoder

                    if self.verify:
                        self.check()
                    model = CrossEncoder(
                        str(self.folder), device="cpu", local_files_only=True,
                        model_kwargs={"dtype": torch.float32},
                    )
                    model.eval()
                    self._model = model
        return self._model

    def check(self) -> dict:
        """``check_judge`` of this folder, hashed once per judge: the NLU checks at start-up, loading need not again."""
        if not self.manifest:
            self.manifest = check_judge(self.folder)
        return self.manifest

    def identity(self) -> str:
        """What identifies these weights: their manifest (which holds every file's hash), else the weights' hash."""
        manifest = self.folder / MANIFEST
        weights = self.folder / "model.safetensors"
        if manifest.is_file():
            return hashlib.sha256(manifest.read_bytes()).hexdigest()
        return sha256_of(weights) if weights.is_file() else str(self.folder.resolve())

    def fingerprint(self) -> str:
        """The weights' identity, and the precision when it is not float32."""
        identity = self.identity()
        return identity if self.precision == "float32" else f"{identity}:{self.precision}"

    def warm(self) -> None:
        self.score([("warm up", "warm up")])

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """The probability that each text makes its key point."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        import torch

        model = self._load()
        if torch.get_num_threads() < THREADS:
            torch.set_num_threads(THREADS)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bfloat16")
        with torch.inference_mode(), autocast:
            out = model.predict([list(p) for p in pairs], batch_size=BATCH, show_progress_bar=False,
                                convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32).reshape(-1)


@lru_cache(maxsize=1)
def shared_judge() -> Judge:
    return Judge()
