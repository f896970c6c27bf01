"""A corpus of bad and odd inputs, generated on the fly (nothing binary is committed).

Every kind has a name, a short description and the outcome the product promises:

* ``"ok"``: a valid photo of a face (the astronaut) that must be read and answered about;
* ``"no-face"``: a valid photo without a face (exit code 3, 422 ``no_face`` over HTTP);
* ``"error"``: not a usable photo: one clear line naming the file and the fix (exit code 2,
  a 4xx JSON error over HTTP), never a traceback or a hang.

:func:`write_photo_kinds` writes one file (or link, folder, pipe ...) per photo-level kind into a
folder; :func:`write_dataset_kinds` writes one small data folder per data-set-level kind. Both
build every image from package-shipped photos (scikit-image's astronaut, matplotlib's Grace
Hopper) via the helpers in ``tests.utils.photos``.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from tests.utils.photos import astronaut, encode, grace_hopper, variants

OK, NO_FACE, ERROR = "ok", "no-face", "error"


@dataclass(frozen=True)
class Kind:
    name: str
    description: str
    expected: str  # OK | NO_FACE | ERROR
    make: Callable[[Path], Path]  # writes the input into a folder, returns its path
    #: The input can be uploaded over HTTP (its bytes are a file's content). False for things
    #: only a file system has: folders, links, pipes, permissions.
    upload: bool = True
    #: Why this kind cannot be produced here (e.g. chmod as root), decided when it is written.
    skip: str | None = None


@dataclass(frozen=True)
class Case:
    kind: Kind
    path: Path
    skip: str | None = None

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def expected(self) -> str:
        return self.kind.expected


# -- source pictures ---------------------------------------------------------------------------

@cache
def face() -> np.ndarray:
    """The astronaut, 512×512: one clear face."""
    return astronaut()


@cache
def portrait() -> np.ndarray:
    """A non-square crop of the astronaut (320 wide × 420 high) so orientations are visible."""
    return face()[0:420, 60:380].copy()


def tagged(tag: str) -> np.ndarray:
    """:func:`portrait` with a few pixels set from ``tag``: the same picture, different bytes
    (kinds must not be byte-identical, or training reports them as duplicates)."""
    rgb = portrait().copy()
    rgb[0, :16] = np.frombuffer(hashlib.blake2b(tag.encode(), digest_size=48).digest(),
                                np.uint8).reshape(16, 3)
    return rgb


@cache
def faceless() -> np.ndarray:
    from skimage import data

    return data.rocket()


def _save(path: Path, im: Image.Image, fmt: str, **kw) -> Path:
    im.save(path, format=fmt, **kw)
    return path


def _jpeg_bytes(rgb: np.ndarray, **kw) -> bytes:
    return encode(rgb, "JPEG", quality=90, **kw)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- ok: valid photos in unusual encodings ---------------------------------------------------

def _png16_rgb(d: Path) -> Path:
    import cv2

    rgb16 = portrait().astype(np.uint16) * 257
    path = d / "png16_rgb.png"
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    assert ok
    return _write(path, buf.tobytes())


def _png16_grey(d: Path) -> Path:
    grey = np.asarray(Image.fromarray(portrait()).convert("L"), np.uint16) * 257
    im = Image.frombytes("I;16", (grey.shape[1], grey.shape[0]), grey.astype("<u2").tobytes())
    return _save(d / "png16_grey.png", im, "PNG")


def _cmyk(d: Path) -> Path:
    return _save(d / "cmyk.jpg", Image.fromarray(portrait()).convert("CMYK"), "JPEG", quality=90)


def _palette(d: Path) -> Path:
    im = Image.fromarray(portrait()).convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    return _save(d / "palette.png", im, "PNG")


def _palette_transparent(d: Path) -> Path:
    im = Image.fromarray(portrait()).convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
    return _save(d / "palette_transparent.gif", im, "GIF", transparency=0)


def _rgba(d: Path) -> Path:
    rgba = np.dstack([portrait(), np.full(portrait().shape[:2], 255, np.uint8)])
    rgba[:40, :, 3] = 0  # a transparent band at the top
    rgba[40:80, :, 3] = 128
    return _save(d / "rgba.png", Image.fromarray(rgba, "RGBA"), "PNG")


def _grey_alpha(d: Path) -> Path:
    im = Image.fromarray(portrait()).convert("LA")
    return _save(d / "grey_alpha.png", im, "PNG")


def _grey(d: Path) -> Path:
    return _save(d / "grey.jpg", Image.fromarray(portrait()).convert("L"), "JPEG", quality=90)


def _frames() -> list[Image.Image]:
    first = Image.fromarray(portrait())
    return [first] + [Image.fromarray(faceless()[:420, :320]) for _ in range(2)]


def _gif_animated(d: Path) -> Path:
    fr = _frames()
    return _save(d / "animated.gif", fr[0], "GIF", save_all=True, append_images=fr[1:],
                 duration=100, loop=0)


def _webp_animated(d: Path) -> Path:
    fr = _frames()
    return _save(d / "animated.webp", fr[0], "WEBP", save_all=True, append_images=fr[1:],
                 duration=100, loop=0, quality=85)


def _webp(d: Path) -> Path:
    return _save(d / "still.webp", Image.fromarray(portrait()), "WEBP", quality=85)


def _tiff(d: Path) -> Path:
    return _save(d / "photo.tiff", Image.fromarray(portrait()), "TIFF")


def _bmp(d: Path) -> Path:
    return _save(d / "photo.bmp", Image.fromarray(portrait()), "BMP")


def _png_named_jpg(d: Path) -> Path:
    return _write(d / "really_a_png.jpg", encode(portrait(), "PNG"))


def _progressive(d: Path) -> Path:
    return _save(d / "progressive.jpg", Image.fromarray(tagged("progressive")), "JPEG",
                 quality=88, progressive=True, optimize=True)


def _upper_ext(d: Path) -> Path:
    return _write(d / "IMG_0001.JPEG", _jpeg_bytes(tagged("upper")))


#: Pillow's transpose that :func:`PIL.ImageOps.exif_transpose` applies for each orientation;
#: the stored pixels are the upright photo transformed by its inverse.
_UNDO = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
         4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
         6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
         8: Image.Transpose.ROTATE_270}


def _exif(orientation: int) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        im = Image.fromarray(portrait())
        if _UNDO[orientation] is not None:
            im = im.transpose(_UNDO[orientation])
        exif = Image.Exif()
        exif[0x0112] = orientation
        return _save(d / f"exif_orientation_{orientation}.jpg", im, "JPEG", quality=90,
                     exif=exif.tobytes())
    return make


def _exif_invalid(d: Path) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 9  # not an orientation
    return _save(d / "exif_orientation_9.jpg", Image.fromarray(portrait()), "JPEG", quality=90,
                 exif=exif.tobytes())


def _exif_garbage(d: Path) -> Path:
    """A JPEG whose EXIF segment is garbage after its header."""
    data = _jpeg_bytes(portrait())
    junk = b"Exif\x00\x00" + b"MM\x00\x2a\x00\x00\x00\x08" + bytes(range(256)) * 2
    app1 = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    return _write(d / "exif_garbage.jpg", data[:2] + app1 + data[2:])


#: The very large photo's size (48 megapixels: under the web's 50 MP limit).
LARGE = (8000, 6000)


def _large(d: Path) -> Path:
    im = Image.new("RGB", LARGE, (96, 110, 130))
    head = Image.fromarray(face()).resize((2000, 2000), Image.Resampling.BILINEAR)
    im.paste(head, (3000, 2000))
    return _save(d / "large_8000x6000.jpg", im, "JPEG", quality=75)


def _cut_by_border(d: Path) -> Path:
    """The face's left quarter is outside the frame and so is the top of the head."""
    return _write(d / "face_cut_by_border.jpg", _jpeg_bytes(face()[60:420, 200:512].copy()))


def twenty_faces() -> np.ndarray:
    """A 5 × 4 grid of 20 faces (astronaut and Grace Hopper variants)."""
    tile = 190
    canvas = Image.new("RGB", (5 * tile + 40, 4 * tile + 40), (120, 120, 120))
    srcs = variants(face()[30:260, 120:340], 10, seed=5) + variants(
        grace_hopper()[40:400, 100:420], 10, seed=6)
    for k, src in enumerate(srcs):
        im = Image.fromarray(src).resize((tile - 20, tile - 20))
        canvas.paste(im, (20 + (k % 5) * tile, 20 + (k // 5) * tile))
    return np.asarray(canvas)


def _twenty(d: Path) -> Path:
    return _write(d / "twenty_faces.jpg", _jpeg_bytes(twenty_faces()))


UNICODE_FILE = "Zoë Saldaña 李小龍 ✓ (copy 2).jpg"
LONG_FILE = "very long name " + "é" * 100 + ".jpg"  # 220 bytes in UTF-8, under NAME_MAX


def _unicode_name(d: Path) -> Path:
    return _write(d / UNICODE_FILE, _jpeg_bytes(tagged("unicode")))


def _long_name(d: Path) -> Path:
    return _write(d / LONG_FILE, _jpeg_bytes(tagged("long")))


def _non_utf8_name(d: Path) -> Path:
    """A file name that is not valid UTF-8 (old Windows / camera cards): Python sees it with
    surrogate escapes, which cannot be printed or stored as UTF-8 as they are."""
    path = Path(os.fsdecode(os.fsencode(str(d)) + b"/latin1_caf\xe9.jpg"))
    return _write(path, _jpeg_bytes(tagged("latin1")))


# -- no face --------------------------------------------------------------------------------

def _no_face(d: Path) -> Path:
    return _write(d / "rocket_no_face.jpg", _jpeg_bytes(faceless()))


def _blank(d: Path) -> Path:
    return _save(d / "blank_white.png", Image.new("RGB", (640, 480), (255, 255, 255)), "PNG")


# -- errors ---------------------------------------------------------------------------------

def _empty(d: Path) -> Path:
    return _write(d / "zero_bytes.jpg", b"")


def _truncated_jpeg(d: Path) -> Path:
    data = _jpeg_bytes(portrait())
    return _write(d / "truncated.jpg", data[: len(data) // 2])


def _truncated_png(d: Path) -> Path:
    data = encode(portrait(), "PNG")
    return _write(d / "truncated.png", data[: len(data) // 2])


def _png_bad_crc(d: Path) -> Path:
    data = bytearray(encode(portrait(), "PNG"))
    data[29] ^= 0xFF  # IHDR's CRC
    return _write(d / "bad_crc.png", bytes(data))


def _header_only(d: Path) -> Path:
    return _write(d / "header_only.jpg", _jpeg_bytes(portrait())[:200])


def _random_bytes(d: Path) -> Path:
    rng = np.random.default_rng(7)
    return _write(d / "random_bytes.jpg", rng.integers(0, 256, 20_000, np.uint8).tobytes())


def _random_after_magic(d: Path) -> Path:
    rng = np.random.default_rng(8)
    return _write(d / "jpeg_magic_then_noise.jpg",
                  b"\xff\xd8\xff\xe0" + rng.integers(0, 256, 20_000, np.uint8).tobytes())


def _text(d: Path) -> Path:
    return _write(d / "notes.jpg", b"These are my holiday notes, not a photo.\n" * 20)


def _html(d: Path) -> Path:
    return _write(d / "saved_page.png",
                  b"<!DOCTYPE html><html><body><img src='photo.png'></body></html>\n")


def _heic(d: Path) -> Path:
    """The first bytes of an iPhone HEIC photo (an ISO-BMFF 'ftyp heic' box), then noise."""
    box = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
    return _write(d / "IMG_4242.jpg", box + bytes(4000))


def _bomb_png(d: Path) -> Path:
    """A valid 1×1 PNG whose header says 30000 × 30000 (900 megapixels)."""
    data = bytearray(encode(np.zeros((1, 1, 3), np.uint8), "PNG"))
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", 30000, 30000)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return _write(d / "bomb_30000x30000.png", bytes(data))


def _bomb_jpeg(d: Path) -> Path:
    """A small JPEG whose frame header says 30000 × 30000."""
    data = bytearray(_jpeg_bytes(np.zeros((16, 16, 3), np.uint8)))
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = struct.pack(">HH", 30000, 30000)
    return _write(d / "bomb_30000x30000.jpg", bytes(data))


def _tiny(d: Path) -> Path:
    return _save(d / "tiny_8x8.png", Image.fromarray(portrait()).resize((8, 8)), "PNG")


def _strip(d: Path) -> Path:
    return _save(d / "strip_4000x4.png", Image.new("RGB", (4000, 4), (200, 150, 120)), "PNG")


def _huge_file(d: Path) -> Path:
    """A 3 GB (sparse: no disk used) file with a JPEG's first bytes."""
    path = _write(d / "huge_3gb.jpg", _jpeg_bytes(portrait())[:1000])
    os.truncate(path, 3 * 1024**3)
    return path


def _newline_name(d: Path) -> Path:
    return _write(d / "two\nlines.jpg", b"")


def _symlink_loop(d: Path) -> Path:
    a, b = d / "loop_a.jpg", d / "loop_b.jpg"
    os.symlink(b.name, a)
    os.symlink(a.name, b)
    return a


def _dangling(d: Path) -> Path:
    path = d / "dangling_link.jpg"
    os.symlink("/nonexistent/lookalike/photo.jpg", path)
    return path


def _device(d: Path) -> Path:
    path = d / "dev_zero.jpg"
    os.symlink("/dev/zero", path)
    return path


def _fifo(d: Path) -> Path:
    path = d / "named_pipe.jpg"
    os.mkfifo(path)
    return path


def _folder(d: Path) -> Path:
    path = d / "album.jpg"
    path.mkdir()
    return path


def _unreadable(d: Path) -> Path:
    path = _write(d / "unreadable.jpg", _jpeg_bytes(tagged("unreadable")))
    path.chmod(0)
    return path


def _unreadable_skip(path: Path) -> str | None:
    if os.access(path, os.R_OK):
        return "running as root: chmod 000 does not deny reading"
    return None


# -- the list -------------------------------------------------------------------------------

PHOTO_KINDS: list[Kind] = [
    Kind("png-16bit-rgb", "16-bit-per-channel RGB PNG", OK, _png16_rgb),
    Kind("png-16bit-grey", "16-bit greyscale PNG (mode I;16)", OK, _png16_grey),
    Kind("cmyk-jpeg", "CMYK JPEG (print workflows)", OK, _cmyk),
    Kind("palette-png", "256-colour palette PNG", OK, _palette),
    Kind("palette-transparent-gif", "palette GIF with a transparent colour", OK,
         _palette_transparent),
    Kind("rgba-png", "RGBA PNG, partly transparent", OK, _rgba),
    Kind("grey-alpha-png", "greyscale + alpha PNG (LA)", OK, _grey_alpha),
    Kind("grey-jpeg", "greyscale JPEG", OK, _grey),
    Kind("animated-gif", "animated GIF, face in the first frame", OK, _gif_animated),
    Kind("animated-webp", "animated WebP, face in the first frame", OK, _webp_animated),
    Kind("webp", "still WebP", OK, _webp),
    Kind("tiff", "uncompressed TIFF", OK, _tiff),
    Kind("bmp", "Windows bitmap", OK, _bmp),
    Kind("png-named-jpg", "a PNG with a .jpg name (type read from the bytes)", OK,
         _png_named_jpg),
    Kind("progressive-jpeg", "progressive (multi-scan) JPEG", OK, _progressive),
    Kind("upper-case-extension", "IMG_0001.JPEG", OK, _upper_ext),
    *[Kind(f"exif-orientation-{o}", f"JPEG stored turned/mirrored, EXIF orientation {o}", OK,
           _exif(o)) for o in range(1, 9)],
    Kind("exif-orientation-invalid", "EXIF orientation 9 (no such value): ignored", OK,
         _exif_invalid),
    Kind("exif-garbage", "a JPEG whose EXIF block is garbage", OK, _exif_garbage),
    Kind("large-8000x6000", "a 48-megapixel JPEG with one face", OK, _large),
    Kind("face-cut-by-border", "the face partly outside the frame", OK, _cut_by_border),
    Kind("twenty-faces", "a group photo of 20 faces", OK, _twenty),
    Kind("unicode-file-name", "file name with accents, CJK, a symbol and spaces", OK,
         _unicode_name),
    Kind("long-file-name", "a 220-byte file name", OK, _long_name),
    Kind("non-utf8-file-name", "a file name that is not valid UTF-8 (Latin-1 é)", OK,
         _non_utf8_name),
    Kind("no-face", "a photo of a rocket", NO_FACE, _no_face),
    Kind("blank-image", "a plain white picture", NO_FACE, _blank),
    Kind("zero-bytes", "an empty file named .jpg", ERROR, _empty),
    Kind("truncated-jpeg", "the first half of a JPEG", ERROR, _truncated_jpeg),
    Kind("truncated-png", "the first half of a PNG", ERROR, _truncated_png),
    Kind("png-bad-crc", "a PNG whose header checksum is wrong", ERROR, _png_bad_crc),
    Kind("jpeg-header-only", "the first 200 bytes of a JPEG", ERROR, _header_only),
    Kind("random-bytes", "20 kB of random bytes named .jpg", ERROR, _random_bytes),
    Kind("jpeg-magic-then-noise", "a JPEG signature followed by noise", ERROR,
         _random_after_magic),
    Kind("text-file", "a text file named .jpg", ERROR, _text),
    Kind("html-file", "a saved web page named .png", ERROR, _html),
    Kind("heic-named-jpg", "an iPhone HEIC photo's header named .jpg", ERROR, _heic),
    Kind("bomb-png", "decompression bomb: PNG header says 30000×30000", ERROR, _bomb_png),
    Kind("bomb-jpeg", "decompression bomb: JPEG header says 30000×30000", ERROR, _bomb_jpeg),
    Kind("tiny-8x8", "an 8×8 image", ERROR, _tiny),
    Kind("strip-4000x4", "a 4000×4 strip", ERROR, _strip),
    Kind("huge-file", "a 3 GB file named .jpg (sparse)", ERROR, _huge_file, upload=False),
    Kind("newline-in-file-name", "an empty file whose name holds a line break", ERROR,
         _newline_name),
    Kind("symlink-loop", "two symbolic links pointing at each other", ERROR, _symlink_loop,
         upload=False),
    Kind("dangling-symlink", "a symbolic link to a file that does not exist", ERROR, _dangling,
         upload=False),
    Kind("device-file", "a link to /dev/zero named .jpg (endless bytes)", ERROR, _device,
         upload=False),
    Kind("named-pipe", "a FIFO named .jpg (reading it would block)", ERROR, _fifo,
         upload=False),
    Kind("folder-named-jpg", "a folder named album.jpg", ERROR, _folder, upload=False),
    Kind("unreadable", "a photo with permissions 000", ERROR, _unreadable, upload=False),
]


def write_photo_kinds(folder: Path, kinds: list[Kind] | None = None) -> list[Case]:
    """Write every photo-level kind into ``folder`` (created); one case per kind."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for kind in kinds or PHOTO_KINDS:
        path = kind.make(folder)
        skip = _unreadable_skip(path) if kind.name == "unreadable" else None
        cases.append(Case(kind, path, skip))
    return cases


def upload_bytes(case: Case) -> bytes:
    return case.path.read_bytes()


# -- data-set-level kinds ---------------------------------------------------------------------

def _people(root: Path, names: dict[str, np.ndarray], n: int = 4, seed: int = 0) -> None:
    for person, rgb in names.items():
        folder = root / person
        folder.mkdir(parents=True, exist_ok=True)
        for i, v in enumerate(variants(rgb, n, seed)):
            (folder / f"p{i:02d}.jpg").write_bytes(_jpeg_bytes(v))


def _two(root: Path, n: int = 4) -> None:
    _people(root, {"astronaut": face(), "grace_hopper": grace_hopper()}, n)


def _ds_empty_person(root: Path) -> None:
    _two(root)
    (root / "nobody").mkdir()


def _ds_one_photo(root: Path) -> None:
    _two(root)
    _people(root, {"lonely": variants(grace_hopper(), 3, seed=9)[2]}, n=1, seed=3)


def _ds_one_person(root: Path) -> None:
    _people(root, {"astronaut": face()})


def _ds_same_photo_two_people(root: Path) -> None:
    _two(root)
    data = (root / "astronaut" / "p00.jpg").read_bytes()
    (root / "grace_hopper" / "not_grace.jpg").write_bytes(data)


def _ds_train_and_validation(root: Path) -> None:
    _two(root / "train")
    _people(root / "validation", {"astronaut": face(), "grace_hopper": grace_hopper()}, n=2,
            seed=11)
    data = (root / "train" / "astronaut" / "p01.jpg").read_bytes()
    (root / "validation" / "astronaut" / "copy_of_p01.jpg").write_bytes(data)


def _ds_no_photos(root: Path) -> None:
    (root / "astronaut").mkdir(parents=True)
    (root / "astronaut" / "readme.txt").write_text("photos go here\n")
    (root / "grace_hopper").mkdir()


def _ds_photos_at_top(root: Path) -> None:
    root.mkdir(parents=True)
    for i, v in enumerate(variants(face(), 3)):
        (root / f"astro_{i}.jpg").write_bytes(_jpeg_bytes(v))


def _ds_hidden_and_other_files(root: Path) -> None:
    _two(root)
    a = root / "astronaut"
    (a / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
    (a / "._p00.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(200))  # macOS AppleDouble
    (a / "Thumbs.db").write_bytes(bytes(512))
    (a / "notes.txt").write_text("holiday 2019\n")
    (a / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".hidden_person").mkdir()
    (root / ".hidden_person" / "x.jpg").write_bytes(_jpeg_bytes(face()))


def _ds_all_faceless(root: Path) -> None:
    for person in ("astronaut", "grace_hopper"):
        (root / person).mkdir(parents=True)
        (root / person / "rocket.jpg").write_bytes(_jpeg_bytes(faceless()))


def _ds_all_broken(root: Path) -> None:
    for person in ("astronaut", "grace_hopper"):
        (root / person).mkdir(parents=True)
        (root / person / "zero.jpg").write_bytes(b"")
        (root / person / "notes.jpg").write_text("not a photo")


UNICODE_PERSON = "Eileen Collins 宇航员 ✓"
LONG_PERSON = "Grace Brewster Murray Hopper " * 8  # 232 bytes: a long (but legal) folder name


def _ds_unicode_people(root: Path) -> None:
    _people(root, {UNICODE_PERSON: face(), LONG_PERSON.strip(): grace_hopper()})


def _ds_folder_loop(root: Path) -> None:
    _two(root)
    os.symlink("..", root / "astronaut" / "again")  # person folder → data folder → ...


def _ds_nested_albums(root: Path) -> None:
    _two(root, n=2)
    for i, v in enumerate(variants(face(), 2, seed=4)):
        sub = root / "astronaut" / "2019" / "holiday"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"h{i}.jpg").write_bytes(_jpeg_bytes(v))


def _ds_missing(root: Path) -> None:
    pass  # the folder is not created


def _ds_is_a_file(root: Path) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_bytes(_jpeg_bytes(face()))


@dataclass(frozen=True)
class DatasetKind:
    name: str
    description: str
    expected: str  # OK (trains, maybe with a warning) | ERROR (one line, exit 2)
    make: Callable[[Path], None]
    #: a phrase the training summary / error line must contain
    says: str = ""


DATASET_KINDS: list[DatasetKind] = [
    DatasetKind("empty-person-folder", "a person folder with no photos", OK, _ds_empty_person,
                "nobody"),
    DatasetKind("person-with-one-photo", "a person with a single photo", OK, _ds_one_photo,
                "lonely: only 1"),
    DatasetKind("one-person", "a data set with only one person", OK, _ds_one_person,
                "only one person (astronaut)"),
    DatasetKind("same-photo-two-people", "the same photo in two people's folders", OK,
                _ds_same_photo_two_people, "the same photo is filed under 2 people"),
    DatasetKind("same-photo-train-and-validation", "the same photo in train and validation", OK,
                _ds_train_and_validation, "leakage"),
    DatasetKind("hidden-and-other-files", ".DS_Store, ._AppleDouble, Thumbs.db, .txt, .mp4, "
                ".git next to photos", OK, _ds_hidden_and_other_files, "notes.txt"),
    DatasetKind("unicode-and-long-person-names", "person folders named with CJK, a symbol, "
                "spaces, and 232 bytes", OK, _ds_unicode_people, UNICODE_PERSON),
    DatasetKind("folder-symlink-loop", "a link from a person folder back to the data folder", OK,
                _ds_folder_loop, "a loop"),
    DatasetKind("nested-albums", "photos in sub-folders of a person folder", OK,
                _ds_nested_albums, ""),
    DatasetKind("no-photos", "person folders without any photo", ERROR, _ds_no_photos,
                "no photos found"),
    DatasetKind("photos-without-person-folders", "photos directly in the data folder", ERROR,
                _ds_photos_at_top, "sub-folder per person"),
    DatasetKind("all-faceless", "every photo without a face", ERROR, _ds_all_faceless,
                "2 had no face"),
    DatasetKind("all-unreadable", "every file empty or not an image", ERROR, _ds_all_broken,
                "4 could not be read as photos"),
    DatasetKind("missing-folder", "the data folder does not exist", ERROR, _ds_missing,
                "folder not found"),
    DatasetKind("data-is-a-file", "the data 'folder' is a photo", ERROR, _ds_is_a_file,
                "not a folder"),
]


def write_dataset_kind(kind: DatasetKind, root: Path) -> Path:
    kind.make(root)
    return root


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size
