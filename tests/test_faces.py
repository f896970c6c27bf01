import numpy as np
import pytest
from PIL import Image

from lookalike.face.detector import (
    Face,
    align,
    prominence,
    upright_landmarks,
    whole_image_face,
)
from tests.utils import astronaut, detector, grace_hopper, group_shot


def test_astronaut_has_one_plausible_face():
    faces = detector().detect(astronaut())
    assert len(faces) == 1
    f = faces[0]
    x, y, w, h = f.box
    assert 150 < x < 220 and 40 < y < 100 and 60 < w < 130  # her face, not the flag
    assert upright_landmarks(f) and f.score > 0.8
    re, le, nose, rm, lm = f.landmarks
    assert re[1] < nose[1] < rm[1] and re[0] < le[0]


def test_group_shot_finds_every_face_most_prominent_first():
    img = group_shot([astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]], [150, 260])
    faces = detector().detect(img)
    assert len(faces) == 2
    assert faces[0].area > faces[1].area  # the bigger Grace Hopper face comes first
    assert prominence(faces[0], (img.shape[1], img.shape[0])) > prominence(
        faces[1], (img.shape[1], img.shape[0]))


def test_centred_subject_beats_a_bigger_face_cut_by_the_border():
    # A hand-cropped photo (150 px, as LFW's): the subject in the middle, a neighbour's face
    # cut by the right border, which YuNet boxes tall (LFW's Kate_Capshaw_0002 has these boxes).
    marks = np.zeros((5, 2), np.float32)
    subject = Face((48.0, 50.0, 51.0, 65.0), marks, 0.92)
    cut = Face((104.0, 36.0, 53.0, 87.0), marks, 0.90)
    assert cut.area > 1.35 * subject.area
    assert prominence(subject, (150, 150)) > prominence(cut, (150, 150))
    # ... while a face clearly bigger still wins from the side (a fan's tiny face in the middle
    # of a wide shot does not become the subject)
    big = Face((90.0, 20.0, 58.0, 120.0), marks, 0.95)
    small = Face((66.0, 66.0, 18.0, 20.0), marks, 0.95)
    assert prominence(big, (150, 150)) > prominence(small, (150, 150))


def test_sideways_photo_without_exif_is_turned():
    img = astronaut()
    upright = detector().detect(img)[0]
    for k in (1, 3):
        faces = detector().detect(np.ascontiguousarray(np.rot90(img, k)))
        assert faces and faces[0].extra.get("rotated") in (90, 270)
        # YuNet's bogus upright reading of a sideways face squashes the eye distance;
        # the turned detection keeps it (rotation preserves distances).
        eyes = float(np.hypot(*(faces[0].landmarks[1] - faces[0].landmarks[0])))
        assert abs(eyes - float(np.hypot(*(upright.landmarks[1] - upright.landmarks[0])))) < 6


def test_tight_crop_is_found_with_a_border():
    f = detector().detect(astronaut())[0]
    x, y, w, h = (int(v) for v in f.box)
    crop = np.ascontiguousarray(astronaut()[y + 5:y + h - 5, x + 5:x + w - 5])
    faces = detector().detect(crop)
    assert len(faces) == 1


def test_no_face_in_a_blank_image():
    assert detector().detect(np.full((200, 300, 3), 127, np.uint8)) == []


def test_whole_image_face_and_alignment():
    f = whole_image_face((120, 100, 3))
    assert f.synthetic and f.box == (0.0, 10.0, 100.0, 100.0)
    face = detector().detect(astronaut())[0]
    crop = align(astronaut(), face, size=112)
    assert crop.shape == (112, 112, 3) and crop.std() > 20
    wide = align(astronaut(), face, size=112, margin=0.5)
    assert wide.shape == (112, 112, 3)
    d = face.to_dict()
    assert len(d["box"]) == 4 and len(d["landmarks"]) == 5


def test_small_face_in_a_big_photo_is_found():
    from lookalike.face.pipeline import decode_for_faces
    from tests.utils import encode

    # a 180×240 px head in a 12-megapixel photo: ~11 px wide at the detector's usual 640 px
    face = Image.fromarray(astronaut()[20:300, 110:350]).resize((180, 240))
    canvas = Image.new("RGB", (4000, 3000), (110, 120, 130))
    canvas.paste(face, (2600, 900))
    rgb, full = decode_for_faces(encode(np.asarray(canvas), quality=85))
    assert full == (4000, 3000) and max(rgb.shape) == 2000  # decoded at the 1/2 draft scale
    faces = detector().detect(rgb)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 2600 < (x + w / 2) * 2 < 2780 and 900 < (y + h / 2) * 2 < 1140


@pytest.mark.slow  # 18 s under load 13
def test_turning_a_photo_does_not_invent_faces():
    from skimage import data

    from lookalike.photos.images import load_image
    from tests.utils import encode

    for name in ("chelsea", "coffee", "rocket"):
        rgb = load_image(encode(getattr(data, name)(), quality=90))  # a cat, a mug, a rocket
        assert detector().detect(rgb) == [], name
