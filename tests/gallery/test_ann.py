"""The large-gallery index (gallery/ann.py): how it scales its lists, probes and codes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faiss")

from lookalike.models.gallery import ann  # noqa: E402


def clustered(n: int, dim: int = 128, per: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // per, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    X = centres[np.arange(n) % len(centres)] + rng.standard_normal((n, dim)).astype(
        np.float32) * (0.75 / np.sqrt(dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Q = centres[:50] + rng.standard_normal((50, dim)).astype(np.float32) * (0.75 / np.sqrt(dim))
    return X, (Q / np.linalg.norm(Q, axis=1, keepdims=True)).astype(np.float32)


def test_probes_a_fixed_share_of_the_lists_as_they_grow():
    assert ann.choose_nprobe(ann.choose_nlist(1_000_000)) == ann.DEFAULT_NPROBE  # as measured
    nlist = ann.choose_nlist(10_000_000)
    assert nlist == 6325 and ann.choose_nprobe(nlist) == 198  # ≈ 1/32 of the lists


@pytest.mark.parametrize("codec", ["flat", "sq8"])
def test_codecs_find_the_neighbours_and_forget_removed_ones(codec, monkeypatch):
    X, Q = clustered(20_000)
    index = ann.IVFIndex.build(X, np.arange(len(X), dtype=np.int64), codec=codec)
    assert index.codec == codec and index.ntotal == len(X)
    truth = np.argsort(-(Q @ X.T), axis=1)[:, :10]
    _, found = index.search(Q, 10)
    rec = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert rec >= 0.95
    again = ann.IVFIndex.from_bytes(index.to_bytes())
    assert again.codec == codec and again.nprobe == index.nprobe
    gone = truth[0][:3]
    assert index.remove(gone) == 3
    assert not set(index.search(Q[:1], 10)[1][0]) & set(gone)


def test_the_codec_follows_the_size(monkeypatch):
    X, _ = clustered(4_000)
    monkeypatch.setattr(ann, "SQ8_FROM", 3_000)
    assert ann.IVFIndex.build(X, np.arange(len(X), dtype=np.int64)).codec == "sq8"
    assert ann.IVFIndex.build(X[:2_000], np.arange(2_000, dtype=np.int64)).codec == "flat"
