"""The approximate index of large galleries: FAISS IVF over inner product (IVF-Flat; past
:data:`SQ8_FROM` vectors, IVF with 8-bit scalar-quantized lists).

Chosen by measuring (bench/studies/gallery/bench_gallery.py, BENCHMARKS.md) against FAISS HNSW,
hnswlib and
usearch: at equal recall it builds many times faster, its memory is the vectors plus ids,
and ``remove_ids`` really deletes a vector (the HNSW libraries only mark it deleted and keep
its bytes in the saved file, which would break `gallery remove`'s promise to forget a
person). Vectors are unit length, so inner product is cosine similarity.

FAISS is imported only here, and only when a gallery is past the exact-search size.
"""

from __future__ import annotations

import math

import numpy as np

from lookalike.errors import require

#: Lists probed per query: recall@10 ≥ 0.95 at 1 M synthetic face vectors (BENCHMARKS.md).
DEFAULT_NPROBE = 64
#: At least this fraction of the lists is probed (64 of ~2,000 at 1 M): lists grow as √n, so a
#: fixed nprobe would see a shrinking share of the gallery and lose recall (BENCHMARKS.md, 10 M).
NPROBE_FRACTION = 1 / 32
#: From this many vectors the lists hold 8-bit codes (128 bytes a vector instead of 512: 10 M
#: in 1.3 GB of memory instead of 5.1 GB) and a query scans 4x fewer bytes (BENCHMARKS.md).
SQ8_FROM = 2_000_000


def _faiss():
    return require("faiss", extra="gallery", purpose="a gallery this large needs the FAISS index")


def choose_nlist(n: int) -> int:
    """Inverted lists for ``n`` vectors: about 2·√n (≈ 2,000 at 1 M)."""
    return int(min(65536, max(16, round(2 * math.sqrt(max(n, 1))))))


def choose_nprobe(nlist: int) -> int:
    """Lists probed per query: :data:`DEFAULT_NPROBE`, or :data:`NPROBE_FRACTION` of them."""
    return max(DEFAULT_NPROBE, math.ceil(nlist * NPROBE_FRACTION))


class IVFIndex:
    """Vectors with int64 ids; ``search`` gives (similarities, ids), best first, ids -1 when
    fewer than k were found."""

    def __init__(self, index, nprobe: int | None = None):
        self.index = index
        self.nprobe = nprobe or choose_nprobe(int(index.nlist))

    @property
    def nlist(self) -> int:
        return int(self.index.nlist)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def codec(self) -> str:
        return "sq8" if "ScalarQuantizer" in type(self.index).__name__ else "flat"

    @classmethod
    def build(cls, X: np.ndarray, ids: np.ndarray, *, nlist: int | None = None,
              codec: str | None = None, seed: int = 0) -> IVFIndex:
        X = np.ascontiguousarray(X, np.float32)
        n = len(X)
        nlist = nlist or choose_nlist(n)
        # k-means on a sample: 50 points per list is plenty for a coarse quantizer.
        rng = np.random.default_rng(seed)
        sample = X if n <= 50 * nlist else X[np.sort(rng.choice(n, 50 * nlist, replace=False))]
        index = cls.trained(sample, n, nlist=nlist, codec=codec, seed=seed)
        step = 200_000
        for s in range(0, n, step):
            index.add(X[s:s + step], ids[s:s + step])
        return index

    @classmethod
    def trained(cls, sample: np.ndarray, n: int, *, nlist: int | None = None,
                codec: str | None = None, seed: int = 0) -> IVFIndex:
        """An empty index for about ``n`` vectors, its lists (and codes) trained on
        ``sample``; ``codec`` "flat" or "sq8" (default: by ``n``, see :data:`SQ8_FROM`)."""
        faiss = _faiss()
        sample = np.ascontiguousarray(sample, np.float32)
        dim = sample.shape[1]
        nlist = nlist or choose_nlist(n)
        codec = codec or ("sq8" if n >= SQ8_FROM else "flat")
        quantizer = faiss.IndexFlatIP(dim)
        if codec == "sq8":
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist,
                                                  faiss.ScalarQuantizer.QT_8bit,
                                                  faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.cp.niter = 12
        index.cp.max_points_per_centroid = 50
        index.train(sample)
        return cls(index)

    def add(self, X: np.ndarray, ids: np.ndarray) -> None:
        self.index.add_with_ids(np.ascontiguousarray(X, np.float32),
                                np.ascontiguousarray(ids, np.int64))

    def remove(self, ids: np.ndarray) -> int:
        """Delete these ids' vectors from the lists (really deleted, not marked)."""
        faiss = _faiss()
        return int(self.index.remove_ids(faiss.IDSelectorBatch(
            np.ascontiguousarray(ids, np.int64))))

    def search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        Q = np.ascontiguousarray(Q, np.float32).reshape(-1, self.index.d)
        self.index.nprobe = min(self.nprobe, self.nlist)
        # A few queries (one photo's faces): one thread. OpenMP's spinning workers cost far
        # more than they save for ~30 k distances, and badly so on a busy machine.
        threads = faiss.omp_get_max_threads()
        if len(Q) < 16:
            faiss.omp_set_num_threads(1)
        try:
            return self.index.search(Q, k)
        finally:
            faiss.omp_set_num_threads(threads)

    def to_bytes(self) -> bytes:
        faiss = _faiss()
        return faiss.serialize_index(self.index).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> IVFIndex:
        faiss = _faiss()
        return cls(faiss.deserialize_index(np.frombuffer(data, np.uint8)))
