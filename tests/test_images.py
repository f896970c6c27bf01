import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from lookalike.errors import ImageError
from lookalike.photos.images import content_hash, load_image
from tests.utils import astronaut, encode


@pytest.mark.parametrize("fmt,suffix", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"),
                                        ("BMP", "bmp"), ("TIFF", "tif"), ("PPM", "ppm")])
def test_formats_decode_to_rgb(tmp_path, fmt, suffix):
    path = tmp_path / f"a.{suffix}"
    path.write_bytes(encode(astronaut(), fmt))
    rgb = load_image(path)
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8
    assert abs(float(rgb.mean()) - float(astronaut().mean())) < 3


def test_grey_pgm_and_16bit_and_cmyk(tmp_path):
    grey = np.asarray(Image.fromarray(astronaut()).convert("L"))
    (tmp_path / "g.pgm").write_bytes(encode(grey, "PPM"))
    assert load_image(tmp_path / "g.pgm").shape == (512, 512, 3)
    im16 = Image.fromarray(grey.astype(np.uint16) * 257)
    buf = io.BytesIO()
    im16.save(buf, "PNG")
    out = load_image(buf.getvalue())
    assert out.shape == (512, 512, 3)
    assert abs(int(out[..., 0].astype(int).mean()) - int(grey.mean())) <= 2  # not saturated
    cmyk = Image.fromarray(astronaut()).convert("CMYK")
    buf = io.BytesIO()
    cmyk.save(buf, "JPEG")
    rgb = load_image(buf.getvalue())
    assert rgb.shape == (512, 512, 3)
    assert np.abs(rgb.astype(int) - astronaut().astype(int)).mean() < 20


def test_transparency_becomes_white():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:10, :, 3] = 255  # top half opaque red, bottom half transparent
    out = load_image(encode(rgba, "PNG"))
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[-1, -1]) == (255, 255, 255)


def test_exif_orientation_is_applied():
    im = Image.fromarray(astronaut()[:, :300])  # 512 tall, 300 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    assert load_image(buf.getvalue()).shape == (300, 512, 3)


def test_reduced_size_decode_of_large_jpeg():
    big = np.asarray(Image.fromarray(astronaut()).resize((4000, 3000)))
    out = load_image(encode(big, quality=80), max_side=1000)
    assert max(out.shape[:2]) == 1000 and out.shape[2] == 3


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    out = load_image(buf.getvalue())
    assert out[0, 0, 0] > 200 and out[0, 0, 2] < 50


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) \
        + chunk(b"IEND", b"")


@pytest.mark.parametrize("data,needle", [
    (b"", "empty"),
    (b"this is text, not a photo\n", "not an image"),
    (bytes(range(256)) * 8, "not an image"),
    (_png_header_only(30000, 30000), "more than"),
])
def test_bad_bytes_give_one_line_errors(tmp_path, data, needle):
    path = tmp_path / "bad.jpg"
    path.write_bytes(data)
    with pytest.raises(ImageError) as err:
        load_image(path)
    msg = str(err.value)
    assert needle in msg and str(path) in msg and "\n" not in msg


def test_truncated_jpeg_and_png(tmp_path):
    for fmt in ("JPEG", "PNG"):
        data = encode(astronaut(), fmt)
        path = tmp_path / f"cut.{fmt.lower()}"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageError, match="damaged or truncated"):
            load_image(path)


def test_missing_and_folder(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_a_photo_hashed_aside_has_the_same_key(tmp_path):
    from lookalike.photos.images import ASIDE_BYTES, read_photo, read_photo_aside

    for n in (1000, ASIDE_BYTES + 1):  # hashed at once / in another thread
        f = tmp_path / f"{n}.bin"
        f.write_bytes(np.random.default_rng(n).bytes(n))
        data, key = read_photo_aside(f)
        assert (data, key()) == read_photo(f) and key() == content_hash(data)
    with pytest.raises(ImageError, match="file not found"):
        read_photo_aside(tmp_path / "missing.jpg")


def test_content_hash_is_stable_and_distinct():
    a, b = encode(astronaut()), encode(astronaut(), quality=50)
    assert content_hash(a) == content_hash(bytes(a)) != content_hash(b)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_big_jpegs_decode_reduced_by_opencv_as_pillow_would(orientation):
    """The reduced JPEG decode (OpenCV's IMREAD_REDUCED_COLOR_*) gives Pillow's draft pixels,
    EXIF orientation included, and the photo's full size."""
    from lookalike.photos import images

    rng = np.random.default_rng(orientation)
    small = rng.integers(0, 255, (45, 60, 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(small).resize((2600, 1800)))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, "JPEG", quality=90, exif=exif.tobytes())
    data = buf.getvalue()
    got, full = images.decode_photo(data, max_side=2400, draft_side=1200)
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (1300, 900))
        want = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert got.shape == want.shape and np.array_equal(got, want)
    assert full == ((1800, 2600) if orientation in (5, 6, 7, 8) else (2600, 1800))
    assert images._reduced_jpeg(data[:-2000], Image.open(io.BytesIO(data)), 0.5, 1) is None
