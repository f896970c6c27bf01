"""Why do two faces look alike (lookalike.answer.why, lookalike.answer.explain): the method, the
Python
API, compare A B C, every kind of model, the cards and the CLI's --why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lookalike
from lookalike.answer.why import (
    CONTRIBUTION,
    DEFAULT_PARTS,
    OCCLUSION,
    PARTS,
    Explainer,
    Why,
    part_cells,
    part_masks,
    unavailable,
)
from lookalike.cli import main
from tests.utils import astronaut, encode, grace_hopper, variants, write_people


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("why")
    a1, a2 = variants(astronaut(), 2, seed=3)
    out = {"a1": d / "a1.jpg", "a2": d / "a2.jpg", "g": d / "g.jpg"}
    out["a1"].write_bytes(encode(a1, quality=92))
    out["a2"].write_bytes(encode(a2, quality=92))
    out["g"].write_bytes(encode(grace_hopper(), quality=92))
    return out


def test_regions_are_soft_symmetric_and_where_the_template_says():
    m = part_masks()
    assert m.shape == (len(DEFAULT_PARTS), 112, 112) and m.min() >= 0 and m.max() <= 1
    # the template is symmetric about x = 56: so are the regions (mirror a pair, same parts)
    assert np.abs(m - m[:, :, ::-1]).max() < 0.25
    eyes, nose, mouth = (DEFAULT_PARTS.index(p) for p in ("eyes", "nose", "mouth"))
    assert m[eyes, 51, 38] > 0.9 and m[eyes, 51, 74] > 0.9  # both eye landmarks
    assert m[nose, 66, 56] > 0.9 and m[mouth, 92, 56] > 0.9
    assert m[nose, 51, 38] < 0.1 and m[eyes, 92, 56] < 0.1
    wide = part_masks(224, 0.25, tuple(PARTS))
    assert wide.shape == (len(PARTS), 224, 224)


def test_one_batched_call_gives_the_vectors_of_one_by_one_calls():
    from lookalike.face.embedders import SFaceEmbedder, l2_normalize

    emb = SFaceEmbedder()
    rng = np.random.default_rng(0)
    views = rng.integers(0, 255, (5, 112, 112, 3), dtype=np.uint8)
    ex = Explainer(emb)
    batched = ex.embed_views(views)
    net = emb._network()
    single = l2_normalize(np.stack([net.run(v.transpose(2, 0, 1)[None].astype(np.float32))[0][0]
                                    for v in views]))
    assert batched.shape == (5, 128)
    assert np.abs(batched - single).max() < 1e-4


def test_sface_tail_splits_the_cosine_over_the_last_maps_cells_exactly():
    """SFace's raw vector is the sum of its 49 cells' parts plus a constant (the affine layers
    after conv_14_relu folded), and each face's cells plus its constant term sum to the
    cosine: the contribution method's claim."""
    from lookalike.answer.why_tail import sface_tail
    from lookalike.face.embedders import SFaceEmbedder, l2_normalize

    rng = np.random.default_rng(1)
    views = rng.integers(0, 255, (2, 112, 112, 3), dtype=np.uint8)
    tail = sface_tail()
    assert tail.maps(views).shape == (2, 1024, 49)
    cells = tail.cells(views)  # each cell's part of the raw vector, computed by OpenVINO
    assert cells.shape == (2, 128, 49)
    # the same products as the folded W on the map, in numpy
    ref = np.einsum("dkx,nkx->ndx", tail.w.astype(np.float64),
                    tail.maps(views).astype(np.float64))
    assert np.abs(cells - ref).max() < 1e-5 * np.abs(ref).max()
    net = SFaceEmbedder()._network()
    raw = net.run(np.ascontiguousarray(views.transpose(0, 3, 1, 2), dtype=np.float32))[0]
    raw = raw.reshape(2, -1)
    assert np.abs(tail.raw(cells) - raw).max() < 1e-4 * np.abs(raw).max()
    rows, cos = tail.cell_shares(cells)
    unit = l2_normalize(raw)
    assert cos == pytest.approx(float(unit[0] @ unit[1]), abs=1e-5)
    norms = np.linalg.norm(raw, axis=1)
    assert rows[0].sum() + tail.const @ unit[1] / norms[0] == pytest.approx(cos, abs=1e-5)
    assert rows[1].sum() + tail.const @ unit[0] / norms[1] == pytest.approx(cos, abs=1e-5)
    hard = part_cells(DEFAULT_PARTS, blur=0)
    assert hard.shape == (len(DEFAULT_PARTS), 49) and hard.min() >= 0 and hard.max() <= 1
    eyes = DEFAULT_PARTS.index("eyes")
    assert hard[eyes].reshape(7, 7)[2:4].sum() > hard[eyes].sum() * 0.8  # rows 32-64 px
    # the default blurs each region by about a cell first: its weight spreads over the
    # neighbouring cells, centred where it was, about as much in all, mirror-symmetric
    soft = part_cells(DEFAULT_PARTS)
    assert soft.shape == hard.shape and soft.min() >= 0 and soft.max() <= 1
    assert soft[eyes].reshape(7, 7).sum(axis=1).argmax() in (2, 3)
    assert hard[eyes].reshape(7, 7)[0].sum() < 0.01 < soft[eyes].reshape(7, 7)[0].sum()
    assert np.allclose(soft.sum(axis=1), hard.sum(axis=1), rtol=0.05)
    cells = soft.reshape(-1, 7, 7)
    assert np.array_equal(cells, cells[:, :, ::-1])


def test_the_folded_tail_is_cached_and_a_damaged_cache_is_folded_again(tmp_path):
    import shutil

    from lookalike.answer.why_tail import _folded_tail, sface_tail
    from lookalike.face.embedders import sface_path
    from lookalike.runtime import fp32_onnx

    src, _ = fp32_onnx(sface_path())
    graph = tmp_path / "sface-fp32.onnx"
    shutil.copy(src, graph)
    w, const = _folded_tail(graph, None)
    cache = tmp_path / "sface-fp32-tail-v1.npz"
    assert cache.exists()
    tail = sface_tail()
    tail.cells(np.zeros((1, 112, 112, 3), np.uint8))  # loaded
    assert np.array_equal(w, tail.w) and np.array_equal(const, tail.const)
    cache.write_bytes(b"not a numpy file")
    w2, const2 = _folded_tail(graph, None)
    assert np.array_equal(w2, w) and np.array_equal(const2, const)
    with np.load(cache) as z:  # written again, whole
        assert z["w"].shape == (128, 1024, 49)


def test_the_method_follows_the_embedder_and_can_be_asked_for():
    from lookalike.face.embedders import SFaceEmbedder

    assert Explainer(SFaceEmbedder()).method == CONTRIBUTION
    assert Explainer(SFaceEmbedder(), method=OCCLUSION).method == OCCLUSION
    assert Explainer(SFaceEmbedder(flip_test=True)).method == OCCLUSION
    # the contribution method averages with the mirrored pair by default (4 crops), occlusion
    # does not (it would read 16)
    assert Explainer(SFaceEmbedder()).mirror and Explainer(SFaceEmbedder()).cell_blur > 0
    assert not Explainer(SFaceEmbedder(), method=OCCLUSION).mirror
    assert not Explainer(SFaceEmbedder(), mirror=False).mirror
    with pytest.raises(ValueError, match="no method"):
        Explainer(SFaceEmbedder(), method="gradcam")
    with pytest.raises(ValueError, match="SFace f32 on OpenVINO only"):
        Explainer(SFaceEmbedder(flip_test=True), method=CONTRIBUTION)


def test_cli_lines_say_what_each_method_measures(photos):
    from lookalike.cli.why_text import why_lines

    why = lookalike.explain(photos["a1"], photos["a2"])
    assert why.method == CONTRIBUTION and why.to_dict()["method"] == CONTRIBUTION
    lines = why_lines(why)
    assert lines[0] == f"  why: {why.sentence}"
    assert all("of the similarity (against the face's average)" in x for x in lines[1:])
    why.method = OCCLUSION
    assert all("when hidden" in x for x in why_lines(why)[1:])


def test_explain_a_pair(photos):
    why = lookalike.explain(photos["a1"], photos["a2"])
    assert isinstance(why, Why) and why.available
    assert sorted(why.ranking()) == sorted(DEFAULT_PARTS)
    shares = [p.share for p in why.parts]
    assert shares == sorted(shares, reverse=True) and abs(sum(shares) - 1) < 1e-6
    drops = [p.drop for p in why.parts]
    assert drops == sorted(drops, reverse=True) and drops[0] > 0.01
    assert why.sentence.startswith("mostly ")
    assert why.heat.shape == (2, 112, 112) and why.heat.max() == pytest.approx(1.0)
    assert why.views.shape == (2, 112, 112, 3) and why.views.dtype == np.uint8
    # the heat map is hottest inside the part ranked first (in the face where it is hotter)
    first = part_masks()[DEFAULT_PARTS.index(why.parts[0].part)]
    k = int(np.argmax(why.heat.reshape(2, -1).max(axis=1)))
    y, x = np.unravel_index(np.argmax(why.heat[k]), (112, 112))
    assert first[y, x] > 0.3
    d = why.to_dict()
    json.dumps(d)
    assert [p["part"] for p in d["parts"]] == why.ranking()
    assert {"part", "name", "share", "drop"} <= set(d["parts"][0])
    grid = d["heatmap"]["faces"]
    assert len(grid) == 2 and len(grid[0]) == d["heatmap"]["grid"] == 16
    assert set(d["regions"]) == set(DEFAULT_PARTS)


def test_one_face_against_several_reads_its_own_looks_once(photos, monkeypatch):
    """explain_many (a photo's top matches, compare A B C): the first face's looks go through
    SFace once, in one batch with every match's; each pair explained as alone; a mirrored
    pair explained exactly alike (the default averages with the mirror)."""
    from lookalike.answer.comparison import comparer, photo_view
    from lookalike.answer.why_tail import sface_tail

    c = comparer("sface")
    views = []
    for k in ("a1", "a2", "g"):
        res = c.analyze(photos[k], k)
        views.append(Explainer(c.pipeline.embedder).view(*photo_view(
            photos[k], res.faces[0], res.image_size, k)))
    ex = Explainer(c.pipeline.embedder)
    tail = sface_tail()
    batches = []
    real = tail.cells
    monkeypatch.setattr(tail, "cells", lambda v: batches.append(len(v)) or real(v))
    many = ex.explain_many(views[0], [views[1], views[2], views[1]])
    assert batches == [2 * 4]  # (1 face + 3 matches) × (as is, mirrored), one inference
    alone = [ex.explain_views(views[0], v) for v in (views[1], views[2])]
    for w, a in zip(many, [*alone, alone[0]], strict=True):
        assert w.ranking() == a.ranking() and w.method == CONTRIBUTION
        assert [p.drop for p in w.parts] == pytest.approx([p.drop for p in a.parts], abs=1e-5)
        assert w.similarity == pytest.approx(a.similarity, abs=1e-5)
    flipped = ex.explain_views(*(np.ascontiguousarray(v[:, ::-1]) for v in views[:2]))
    assert flipped.ranking() == alone[0].ranking()
    assert [p.drop for p in flipped.parts] == pytest.approx([p.drop for p in alone[0].parts],
                                                            abs=1e-5)


@pytest.mark.slow  # 7.7 CPU-s per method; fast: test_explain_a_pair, test_compare_*
@pytest.mark.parametrize("method", [CONTRIBUTION, OCCLUSION])
def test_averaged_looks_are_the_mean_of_each_looks_explanation(photos, method):
    """Explainer(mirror=True, jitter=j) averages, in one batch, the drops of the pair as it is,
    mirrored and moved j px in 4 directions: the same numbers as explaining each look alone."""
    from lookalike.answer.comparison import comparer, photo_view
    from lookalike.answer.why import _moved

    c = comparer("sface")
    views = []
    for k in ("a1", "a2"):
        res = c.analyze(photos[k], k)
        views.append(Explainer(c.pipeline.embedder).view(*photo_view(
            photos[k], res.faces[0], res.image_size, k)))
    plain = Explainer(c.pipeline.embedder, method=method, mirror=False)
    both = Explainer(c.pipeline.embedder, mirror=True, jitter=2, method=method)
    looks = both.looks()
    assert len(looks) == 10 and looks[0] == (False, 0, 0) and (True, 0, -2) in looks
    why = both.explain_views(*views)
    each = [plain.explain_views(_moved(views[0], *lk), _moved(views[1], *lk)) for lk in looks]
    for part in why.parts:
        mean_a = np.mean([next(q.drops[0] for q in w.parts if q.part == part.part)
                          for w in each])
        mean_b = np.mean([next(q.drops[1] for q in w.parts if q.part == part.part)
                          for w in each])
        assert part.drops == pytest.approx((mean_a, mean_b), abs=2e-4), part.part
    assert why.similarity == pytest.approx(each[0].similarity, abs=1e-5)
    # a mirrored pair is explained alike (the regions are symmetric about the template's axis)
    flipped = both.explain_views(*(np.ascontiguousarray(v[:, ::-1]) for v in views))
    assert flipped.ranking() == why.ranking()


@pytest.mark.parametrize("method", [CONTRIBUTION, OCCLUSION])
def test_hiding_the_first_part_costs_more_than_hiding_the_last(photos, method):
    """The explanation's own claim, checked by hiding the parts in the pixels with another
    fill than the occlusion method's (mean colour, hard edges)."""
    from lookalike.answer.comparison import comparer
    from lookalike.answer.explain import photo_view

    c = comparer("sface")
    ex = Explainer(c.pipeline.embedder, method=method)
    views, embs = [], []
    for p in (photos["a1"], photos["a2"]):
        res = c.analyze(p, str(p))
        rgb, face = photo_view(p, res.faces[0], res.image_size)
        views.append(ex.view(rgb, face))
        embs.append(res.embeddings[0])
    why = ex.explain_views(views[0], views[1], (embs[0], embs[1]))
    assert why.method == method
    base = float(embs[0] @ embs[1])
    assert why.similarity == pytest.approx(base, abs=1e-5)
    masks = part_masks()
    drops = []
    for part in (why.parts[0].part, why.parts[-1].part):
        hard = masks[DEFAULT_PARTS.index(part)] >= 0.5
        masked = views[0].copy()
        masked[hard] = views[0].reshape(-1, 3).mean(axis=0).astype(np.uint8)
        drops.append(base - float(ex.embed_views(masked[None])[0] @ embs[1]))
    assert drops[0] > drops[1]


def test_compare_keeps_its_shape_and_adds_why_when_asked(photos):
    plain = lookalike.compare(photos["a1"], photos["a2"]).to_dict()
    assert "why" not in plain
    d = lookalike.compare(photos["a1"], photos["a2"], why=True).to_dict()
    assert {k: v for k, v in d.items() if k != "why"} == plain
    assert d["why"]["available"] and d["why"]["sentence"].startswith("mostly")


def test_compare_many_says_which_photo_resembles_most(photos):
    from lookalike.answer.explain import compare_many

    m = compare_many(photos["a1"], [photos["g"], photos["a2"]], names=["me", "grace", "astro"],
                     why=True)
    d = m.to_dict()
    json.dumps(d)
    assert d["most_alike"] == "astro" and [c["photo"] for c in d["candidates"]] == ["astro",
                                                                                   "grace"]
    assert sum(c["probability"] for c in d["candidates"]) == pytest.approx(1.0, abs=1e-3)
    sims = [c["similarity"] for c in d["candidates"]]
    assert sims == sorted(sims, reverse=True)
    pair = lookalike.compare(photos["a1"], photos["a2"])
    assert sims[0] == pytest.approx(pair.similarity, abs=1e-4)
    assert d["candidates"][0]["same_person"] is True and d["candidates"][1]["same_person"] is False
    assert all(c["why"]["available"] for c in d["candidates"])
    with pytest.raises(lookalike.errors.NoFaceError, match="blank"):
        compare_many(photos["a1"], [np.full((100, 100, 3), 128, np.uint8)],
                     names=["me", "blank"])


def test_compare_many_gives_each_pair_compares_size_aware_verdict(photos, tmp_path):
    """compare A B C answers each pair as compare A B does: the threshold and the probability
    for the pair's smaller face width, not the LFW-size threshold for every pair."""
    from PIL import Image

    from lookalike.answer.comparison import comparer, same_person_probability
    from lookalike.answer.explain import compare_many

    big = {}  # the photos at twice their size: faces well over LFW's 80 px
    for k in ("a1", "a2", "g"):
        with Image.open(photos[k]) as im:
            big[k] = tmp_path / f"{k}.jpg"
            im.resize((im.width * 2, im.height * 2), Image.BICUBIC).save(big[k], quality=92)
    m = compare_many(big["a1"], [big["g"], big["a2"]], names=["me", "grace", "astro"])
    c = comparer("sface")
    assert [x.photo for x in m.candidates] == ["astro", "grace"]
    for cand, other in zip(m.candidates, [big["a2"], big["g"]], strict=True):
        pair = lookalike.compare(big["a1"], other)
        width = min(m.face.box[2], cand.face.box[2])
        assert cand.threshold == pytest.approx(pair.threshold, abs=1e-6)
        assert cand.threshold == pytest.approx(c.threshold_for(width), abs=1e-6)
        assert cand.same_person_probability == pytest.approx(pair.probability, abs=1e-6)
        assert cand.same_person == pair.same_person
    # these faces are larger than LFW's: the size-aware rule differs from the fixed one here
    best = m.candidates[0]
    assert best.threshold > c.threshold + 0.01
    logit = lambda q: np.log(q / (1.0 - q))  # noqa: E731
    for cand in m.candidates:  # (log-odds: the probabilities saturate near 0 and 1)
        assert abs(logit(cand.same_person_probability)
                   - logit(same_person_probability(cand.similarity, "sface"))) > 0.05
    d = m.to_dict()
    assert d["candidates"][0]["threshold"] == pytest.approx(best.threshold, abs=1e-4)
    assert d["schema"] == "lookalike/compare-many/2"


@pytest.mark.slow  # 16 s under load 13
def test_every_embedder_explains(photos):
    pytest.importorskip("dlib")
    for name in ("dlib", "sface+dlib"):
        why = lookalike.explain(photos["a1"], photos["a2"], embedder=name)
        assert why.available and sorted(why.ranking()) == sorted(DEFAULT_PARTS), name
        assert why.heat.shape == (2, 112, 112) and why.views.shape == (2, 112, 112, 3)
        assert why.similarity > 0.5  # the same face, read by that embedder


def test_predict_matches_explained_and_a_kind_without_it_says_so(trained, photos):
    from lookalike.answer.explain import explain_result
    from lookalike.answer.ranking import FaceResult, Match, PhotoResult

    model = trained[0]
    res = model.predict(photos["a2"])
    assert explain_result(model, photos["a2"], res, top=2) == 2
    d = res.to_dict()
    ranked = d["faces"][0]["ranking"]
    assert ranked[0]["why"]["available"] and ranked[1]["why"]["available"]
    assert "why" not in model.predict(photos["a2"]).to_dict()["faces"][0]["ranking"][0]

    class NoPipeline:  # what the article's CNN offers: no shared pipeline, no thumbnails
        kind = "article"
        pipeline = None
        has_thumbnails = False

    fr = FaceResult(res.faces[0].face, [Match("x", 1.0)])
    other = PhotoResult("p", [fr], res.image_size)
    assert explain_result(NoPipeline(), photos["a2"], other) == 0
    doc = other.to_dict()["faces"][0]["ranking"][0]["why"]
    assert doc == {"available": False, "parts": [], "sentence": doc["sentence"]}
    assert "not available for a article model" in doc["sentence"]
    assert unavailable("x").sentence == "x"


@pytest.mark.slow  # 22 s under load 13
def test_cli_why_on_compare_predict_and_gallery(trained, photos, tmp_path, capsys):
    assert main(["compare", str(photos["a1"]), str(photos["a2"]), "--why", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["why"]["parts"][0]["share"] > 0 and d["same_person"] is True
    assert main(["compare", str(photos["a1"]), str(photos["a2"]), "--why"]) == 0
    out = capsys.readouterr().out
    assert "why: mostly" in out and "eyes" in out
    assert main(["compare", str(photos["a1"]), str(photos["g"]), str(photos["a2"]),
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["most_alike"].endswith("a2.jpg") and "why" not in d["candidates"][0]
    assert main(["compare", str(photos["a1"]), str(photos["g"]), str(photos["a2"])]) == 0
    assert "looks most like" in capsys.readouterr().out
    assert main(["predict", str(trained[2]), str(photos["a2"]), "--why", "--top", "2",
                 "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)["photos"][0]["faces"][0]["ranking"]
    assert len(ranked) == 2 and all(m["why"]["available"] for m in ranked)
    assert main(["predict", str(trained[2]), str(photos["a2"]), "--why"]) == 0
    assert "why: mostly" in capsys.readouterr().out
    people = write_people(tmp_path / "DATA", per_person=3)
    g = tmp_path / "p.gallery"
    assert main(["gallery", "create", str(g)]) == 0
    assert main(["gallery", "add", str(g), str(people), "--workers", "1", "-q"]) == 0
    capsys.readouterr()
    assert main(["gallery", "search", str(g), str(photos["a2"]), "--why", "--top", "2",
                 "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)["photos"][0]["faces"][0]["ranking"]
    assert ranked[0]["person"] == "astronaut" and ranked[0]["why"]["available"]


@pytest.mark.slow  # 12 s under load 13
def test_cards_show_why(trained, photos, tmp_path):
    from PIL import Image

    from lookalike.answer.explain import explain_result
    from lookalike.pictures.cards import render_card
    from lookalike.pictures.compare_card import render_compare_card

    plain = lookalike.compare(photos["a1"], photos["a2"])
    with_why = lookalike.compare(photos["a1"], photos["a2"], why=True)
    c0 = render_compare_card(plain, tmp_path / "c0.png", sources=(photos["a1"], photos["a2"]))
    c1 = render_compare_card(with_why, tmp_path / "c1.png",
                             sources=(photos["a1"], photos["a2"]))
    assert c1.size[1] > c0.size[1] + 200 and c1.size[0] == c0.size[0]
    assert Image.open(c1.path).size == c1.size
    model = trained[0]
    res = model.predict(photos["a2"])
    k0 = render_card(model, [res], tmp_path / "k0.png", sources=[photos["a2"]])
    explain_result(model, photos["a2"], res)
    k1 = render_card(model, [res], tmp_path / "k1.png", sources=[photos["a2"]])
    assert k1.size[1] > k0.size[1] + 200
