"""Look-alike cards: rendered for real and checked for what can be checked (size, not blank,
bars in ranked order, rows per face, nearest photos, 'none of these', Grad-CAM)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import astronaut, encode, grace_hopper, group_shot, variants, write_people
from PIL import Image

pytest.importorskip("matplotlib")

LONG = "Zoë Ångström-Łukasiewicz"
CJK = "王小明"


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def _not_blank(rgb: np.ndarray) -> None:
    assert rgb.std() > 20
    # Plenty of non-white pixels (photos, bars), not only a frame.
    assert np.mean(rgb.min(axis=2) < 200) > 0.05


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    paths = {}
    paths["astro"] = d / "astro.jpg"
    paths["astro"].write_bytes(encode(variants(astronaut(), 1, seed=7)[0]))
    paths["grace"] = d / "grace.jpg"
    paths["grace"].write_bytes(encode(variants(grace_hopper(), 1, seed=7)[0]))
    paths["group"] = d / "group.jpg"
    paths["group"].write_bytes(encode(group_shot(
        [astronaut()[20:240, 140:320], grace_hopper()[60:400, 120:420]], [200, 240])))
    paths["blank"] = d / "blank.png"
    Image.new("RGB", (240, 180), (90, 140, 200)).save(paths["blank"])
    return paths


def test_card_one_face(trained, photos, tmp_path):
    from lookalike.pictures.cards import render_card

    model, _, _ = trained
    res = model.predict(photos["astro"])
    card = render_card(model, [res], tmp_path / "card.png")
    rgb = _png(card.path)
    assert rgb.shape[1] == card.size[0] and rgb.shape[0] == card.size[1]
    assert rgb.shape[1] >= 900 and rgb.shape[0] >= 250
    _not_blank(rgb)
    (row,) = card.rows
    assert row.order == [m.person for m in res.faces[0].ranking]
    assert row.order[0] == "astronaut"
    assert row.nearest[0] == "astronaut"
    assert not row.unknown and not row.gradcam


def test_card_group_shot_all_faces_and_together(trained, photos, tmp_path):
    from lookalike.pictures.cards import render_card

    model, _, _ = trained
    results, verdict = model.predict_many(
        [photos["group"], photos["grace"], photos["blank"], tmp_path / "missing.jpg"],
        all_faces=True, together=True)
    card = render_card(model, results, tmp_path / "group.png", verdict=verdict, top=1)
    _not_blank(_png(card.path))
    faces = [r for r in card.rows if r.face is not None]
    assert len(faces) == len(results[0].faces) + 1 >= 3
    tops = {r.order[0] for r in faces[:len(results[0].faces)]}
    assert tops == {"astronaut", "grace_hopper"}
    messages = [r.message for r in card.rows if r.face is None and r.photo != "together"]
    assert len(messages) == 2 and "no face" in messages[0]
    assert card.rows[-1].photo == "together" and card.rows[-1].order
    # top=1 draws one bar per face and a grey 'others' bar, not more names.
    assert all(len(r.order) == 1 for r in faces)


def test_card_none_of_these(trained, photos, tmp_path):
    import copy

    from lookalike.models.model import Model
    from lookalike.pictures.cards import render_card

    model, _, _ = trained
    strict = Model(copy.deepcopy(model.manifest), model.head, model.train_embeddings,
                   model.train_labels, model._thumbs)
    strict.manifest["threshold"]["similarity"] = 1.01  # nobody is close enough
    res = strict.predict(photos["grace"])
    assert res.faces[0].unknown
    card = render_card(strict, [res], tmp_path / "unknown.png")
    assert card.rows[0].unknown
    _not_blank(_png(card.path))


class _WithGradcam:
    """The embedding model plus a ``gradcam`` like the article's CNN model offers."""

    def __init__(self, model, fail: bool = False):
        self._m = model
        self.fail = fail
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self._m, name)

    def gradcam(self, rgb, face):
        self.calls += 1
        if self.fail:
            raise RuntimeError("no gradients here")
        yy, xx = np.mgrid[0:7, 0:7]
        return np.exp(-((yy - 3) ** 2 + (xx - 2) ** 2) / 4.0)


def test_card_gradcam_when_the_model_offers_it(trained, photos, tmp_path):
    from lookalike.pictures.cards import render_card

    model, _, _ = trained
    res = model.predict(photos["astro"])
    with_cam = _WithGradcam(model)
    card = render_card(with_cam, [res], tmp_path / "cam.png")
    assert with_cam.calls == 1 and card.rows[0].gradcam
    plain = render_card(model, [res], tmp_path / "plain.png")
    assert card.size[0] > plain.size[0]  # one more panel
    failing = _WithGradcam(model, fail=True)
    card2 = render_card(failing, [res], tmp_path / "cam2.png")  # skipped, not fatal
    assert failing.calls == 1 and not card2.rows[0].gradcam
    _not_blank(_png(card2.path))


def test_long_and_non_latin_names(tmp_path, photos):
    from lookalike.models.train import train
    from lookalike.pictures.cards import render_card
    from lookalike.pictures.fonts import cjk_font, missing_glyphs

    data = write_people(tmp_path / "DATA")
    (data / "astronaut").rename(data / LONG)
    (data / "grace_hopper").rename(data / CJK)
    model, _ = train(data, progress=False)
    res = model.predict(photos["grace"])
    card = render_card(model, [res], tmp_path / "names.png")
    assert card.rows[0].order == [CJK, LONG]
    _not_blank(_png(card.path))
    assert not missing_glyphs(LONG)
    if cjk_font() is not None:  # the viz extra ships Noto Sans CJK
        assert not missing_glyphs(CJK)


def test_ranking_bars_highest_on_top_with_percentages():
    from lookalike.pictures.charts import ranking_bars
    from lookalike.pictures.plots import style

    people = ["A", "B" * 40, CJK, "D"]
    probs = [0.6, 0.25, 0.1, 0.05]
    with style() as plt:
        fig = plt.figure((5, 3))
        ax = fig.add_axes((0.4, 0.1, 0.5, 0.8))
        order = ranking_bars(ax, people, probs, ["#000"] * 4)
        fig.canvas.draw()
        bars = sorted(ax.patches, key=lambda p: -p.get_y())  # top to bottom
        widths = [b.get_width() for b in bars]
        labels = [t.get_text() for t in ax.get_yticklabels()]
        texts = [t.get_text() for t in ax.texts]
    assert order == people
    assert widths == sorted(widths, reverse=True) and widths[0] == pytest.approx(60)
    assert labels[0] == "A" and labels[2] == CJK
    assert texts == ["60%", "25%", "10%", "5.0%"]
    assert all(len(line) <= 22 for lab in labels for line in lab.split("\n"))


def test_labels_and_percentages():
    from lookalike.pictures.text import display_width, pct, shorten, wrap_name

    assert pct(0.99996) == "100%" and pct(0.9996) == "99.9%" and pct(0.00001) == "<0.1%"
    assert pct(0.123) == "12%" and pct(0.0512) == "5.1%"
    assert display_width(CJK) == 6
    assert display_width(shorten("王" * 20, 9)) <= 9
    w = wrap_name("Maximilian Alexander von Hohenzollern-Sigmaringen", 20)
    assert len(w.split("\n")) == 2 and all(display_width(x) <= 20 for x in w.split("\n"))
    assert wrap_name("George_W_Bush", 20) == "George W Bush"


def test_cli_predict_card(trained, photos, tmp_path, capsys):
    from lookalike.cli import main

    _, _, path = trained
    out = tmp_path / "cli.png"
    assert main(["predict", str(path), str(photos["astro"]), str(photos["grace"]),
                 "--together", "--card", str(out)]) == 0
    _not_blank(_png(out))
    capsys.readouterr()
    assert main(["predict", str(path), str(photos["astro"]), "--card",
                 str(tmp_path / "nope" / "c.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]


def test_without_a_cjk_font_names_still_render_and_one_warning_says_why(
        trained, photos, tmp_path, monkeypatch):
    import lookalike.pictures.fonts as plots
    from lookalike.pictures.cards import render_card

    monkeypatch.setattr(plots, "cjk_font", lambda: None)
    monkeypatch.setattr(plots, "_warned_cjk", False)
    assert plots.missing_glyphs(CJK) == set(CJK)
    model, _, _ = trained
    res = model.predict(photos["astro"])
    res.faces[0].ranking[0].person = CJK  # as if the folder were named so
    with pytest.warns(UserWarning, match="CJK font"):
        plots.check_names([CJK])
    card = render_card(model, [res], tmp_path / "tofu.png")  # no second warning, no error
    _not_blank(_png(card.path))
