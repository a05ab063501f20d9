"""The passage index: exact search, manifest, errors that name the file and the fix."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from bot.search.index import INDEX_FILE, MANIFEST_FILE, PASSAGES_FILE, IndexUnavailable, PassageIndex, passages_of
from bot.settings import ROOT


@pytest.fixture(scope="module")
def built(tmp_path_factory, essay, encoder):
    directory = tmp_path_factory.mktemp("index")
    return directory, PassageIndex.build(essay, encoder, directory)


def test_every_paragraph_and_quote_is_indexed_with_unit_vectors(built, essay, encoder):
    _, index = built
    assert len(index) == len(passages_of(essay)) > 90
    kinds = {p.kind for p in index.passages}
    assert {"paragraph", "quote", "list", "table"} <= kinds
    vectors = index.faiss_index.reconstruct_n(0, len(index))
    assert vectors.shape[1] == encoder.dimension
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert index.manifest["model"] == encoder.name
    assert set(index.manifest["essay"]) == {"molyneux-does-leninism-lead-to-stalinism.txt", "corrections.yml", "essay.yml"}
    assert len(index.manifest["claims"]) == 64 and index.manifest["built_at"]


def test_search_equals_brute_force(built, encoder):
    _, index = built
    vectors = index.faiss_index.reconstruct_n(0, len(index))
    for query in ["the civil war forced harsh measures", "Kronstadt sailors", "socialism in one country"]:
        q = encoder.encode_one(query)
        expected = np.argsort(-(vectors @ q))[:5]
        got = [index.passages.index(p) for p, _ in index.search(q, 5)]
        assert got == list(expected)


def test_saved_index_loads_back(built):
    directory, index = built
    loaded = PassageIndex.load(directory)
    assert [p.id for p in loaded.passages] == [p.id for p in index.passages]


@pytest.mark.parametrize("name", [INDEX_FILE, PASSAGES_FILE, MANIFEST_FILE])
def test_a_missing_file_is_named_with_the_fix(built, tmp_path, name):
    directory, _ = built
    for file in (INDEX_FILE, PASSAGES_FILE, MANIFEST_FILE):
        if file != name:
            (tmp_path / file).write_bytes((directory / file).read_bytes())
    with pytest.raises(IndexUnavailable, match=f"{name}.*make train"):
        PassageIndex.load(tmp_path)


def test_a_corrupt_index_is_named_with_the_fix(built, tmp_path):
    directory, _ = built
    for file in (PASSAGES_FILE, MANIFEST_FILE):
        (tmp_path / file).write_bytes((directory / file).read_bytes())
    (tmp_path / INDEX_FILE).write_bytes(b"not a faiss index")
    with pytest.raises(IndexUnavailable, match=f"{INDEX_FILE} is corrupt.*make train"):
        PassageIndex.load(tmp_path)


def test_an_index_from_another_essay_is_stale(built, tmp_path):
    directory, _ = built
    for file in (INDEX_FILE, PASSAGES_FILE):
        (tmp_path / file).write_bytes((directory / file).read_bytes())
    manifest = (directory / MANIFEST_FILE).read_text().replace('"corrections.yml": "', '"corrections.yml": "0')
    (tmp_path / MANIFEST_FILE).write_text(manifest)
    with pytest.raises(IndexUnavailable, match="another version of the essay"):
        PassageIndex.load(tmp_path)
    assert PassageIndex.load(tmp_path, check_fresh=False)


@pytest.mark.command
def test_building_needs_no_network(tmp_path):
    """The build runs with every hub and proxy pointed at a closed port."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        HF_ENDPOINT="http://127.0.0.1:9",
        TUTOR_BUILD_DIR=str(tmp_path),
    )
    command = [sys.executable, "-m", "bot", "build"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "index" / INDEX_FILE).is_file()
