"""A FAISS index of the essay's passages, with a manifest that says what it was built from.

The corpus is a hundred-odd passages, so a flat inner-product index over unit vectors is
exact and fast; nothing approximate is needed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

from bot.essay.parse import Essay
from bot.files import sha256_of
from bot.settings import INDEX_DIR, KNOWLEDGE_DIR

MIN_PASSAGE_CHARS = 40  # "Name comments:" introduces a quotation; it is no passage
REBUILD_HINT = "rebuild it with `make train` (or `.venv/bin/python -m bot build`)"
INDEX_FILE = "passages.faiss"
PASSAGES_FILE = "passages.json"
MANIFEST_FILE = "manifest.json"


class IndexUnavailable(RuntimeError):
    """The index is missing, stale or corrupt; the message names the file and the fix."""


@dataclass(frozen=True)
class Passage:
    id: str
    section: str
    kind: str
    text: str
    footnotes: tuple[int, ...]


def essay_fingerprint(knowledge_dir: Path = KNOWLEDGE_DIR) -> dict[str, str]:
    """Hashes of the files the passages come from: the essay, its description, its corrections."""
    meta = yaml.safe_load((knowledge_dir / "essay.yml").read_text(encoding="utf-8"))
    names = ["essay.yml", meta["source"], meta.get("corrections", "corrections.yml")]
    return {name: sha256_of(knowledge_dir / name) for name in names}


def passages_of(essay: Essay) -> list[Passage]:
    return [
        Passage(b.id, b.section, b.kind, b.text, b.footnotes)
        for b in essay.blocks
        if len(b.text) >= MIN_PASSAGE_CHARS
    ]


class PassageIndex:
    """Passages and their vectors; ``search`` returns (passage, cosine score) pairs."""

    def __init__(self, passages: list[Passage], faiss_index, manifest: dict) -> None:
        self.passages = passages
        self.faiss_index = faiss_index
        self.manifest = manifest
        self._position = {p.id: i for i, p in enumerate(passages)}

    def __len__(self) -> int:
        return len(self.passages)

    def get(self, passage_id: str) -> Passage | None:
        position = self._position.get(passage_id)
        return None if position is None else self.passages[position]

    def search(self, vector: np.ndarray, k: int) -> list[tuple[Passage, float]]:
        k = min(k, len(self.passages))
        if k <= 0:
            return []
        scores, positions = self.faiss_index.search(vector.reshape(1, -1).astype(np.float32), k)
        return [(self.passages[i], float(s)) for s, i in zip(scores[0], positions[0], strict=False) if i >= 0]

    def scores_for(self, vector: np.ndarray, passage_ids: list[str]) -> dict[str, float]:
        """Cosine scores of the query against the named passages (reconstructed vectors)."""
        out = {}
        for passage_id in passage_ids:
            position = self._position.get(passage_id)
            if position is not None:
                out[passage_id] = float(self.faiss_index.reconstruct(position) @ vector)
        return out

    @classmethod
    def build(cls, essay: Essay, encoder, directory: Path = INDEX_DIR) -> PassageIndex:
        import faiss

        started = time.perf_counter()
        passages = passages_of(essay)
        vectors = encoder.encode([p.text for p in passages])
        index = faiss.IndexFlatIP(int(vectors.shape[1]))
        index.add(vectors)
        manifest = {
            "model": encoder.name,
            "dimension": int(vectors.shape[1]),
            "passages": len(passages),
            "essay": essay_fingerprint(),
            "claims": sha256_of(KNOWLEDGE_DIR / "claims.yml"),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(index, str(directory / INDEX_FILE))
        (directory / PASSAGES_FILE).write_text(
            json.dumps([asdict(p) for p in passages], ensure_ascii=False, indent=1), encoding="utf-8"
        )
        (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return cls(passages, index, manifest)

    @classmethod
    def load(cls, directory: Path = INDEX_DIR, *, check_fresh: bool = True) -> PassageIndex:
        import faiss

        manifest_path = directory / MANIFEST_FILE
        index_path = directory / INDEX_FILE
        passages_path = directory / PASSAGES_FILE
        for path in (manifest_path, index_path, passages_path):
            if not path.is_file():
                raise IndexUnavailable(f"passage index file {path} is missing: {REBUILD_HINT}")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            passages = [
                Passage(**{**p, "footnotes": tuple(p["footnotes"])})
                for p in json.loads(passages_path.read_text(encoding="utf-8"))
            ]
        except (ValueError, TypeError, KeyError) as error:
            raise IndexUnavailable(f"passage index file is corrupt ({error}) in {directory}: {REBUILD_HINT}") from error
        try:
            index = faiss.read_index(str(index_path))
        except RuntimeError as error:
            raise IndexUnavailable(f"passage index file {index_path} is corrupt: {REBUILD_HINT}") from error
        if index.ntotal != len(passages) or index.d != manifest.get("dimension"):
            raise IndexUnavailable(
                f"passage index file {index_path} holds {index.ntotal} vectors of dimension {index.d}, "
                f"but {passages_path} lists {len(passages)} passages: {REBUILD_HINT}"
            )
        if check_fresh and manifest.get("essay") != essay_fingerprint():
            raise IndexUnavailable(
                f"passage index in {directory} was built from another version of the essay than the one in "
                f"knowledge/ now: {REBUILD_HINT}"
            )
        return cls(passages, index, manifest)


def is_fresh(directory: Path = INDEX_DIR) -> bool:
    try:
        PassageIndex.load(directory)
    except IndexUnavailable:
        return False
    return True
