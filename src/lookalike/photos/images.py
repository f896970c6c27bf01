"""Reading any photo safely into an RGB ``uint8`` array.

Handles EXIF orientation, grey / palette / RGBA / CMYK / 16-bit images, decompression bombs,
and decodes big JPEGs at reduced size (draft mode) when only a smaller image is needed.
Knows nothing about faces.
"""

from __future__ import annotations

import errno
import hashlib
import io
import stat
import struct
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from lookalike.errors import ImageError

#: File name suffixes treated as photos when listing folders.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm",
     ".pnm", ".gif"}
)

#: Refuse images with more pixels than this (a decompression bomb, not a photo).
MAX_PIXELS = 120_000_000
#: Refuse files larger than this before reading them (an uncompressed 120 MP 16-bit TIFF fits).
MAX_FILE_BYTES = 1024 * 2**20
#: Refuse images whose shorter side is below this: too small to show a face.
MIN_SIDE = 16

ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow warns above this (made an error below)

PhotoSource = str | Path | bytes

#: ISO-BMFF brands of HEIC / HEIF photos, which Pillow cannot decode (AVIF it can).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1",
                         b"msf1"})


def is_heif(data: bytes) -> bool:
    """Whether ``data`` starts like a HEIC / HEIF photo (an ISO-BMFF ``ftyp`` box with a HEIF
    brand), a format Pillow cannot decode."""
    return data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS


def content_hash(data: bytes) -> str:
    """A stable key for a file's content (used for caching and duplicate detection)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def read_photo(source: PhotoSource, digest: str | None = None) -> tuple[bytes, str]:
    """A photo's bytes (:func:`read_bytes`) and its content key (:func:`content_hash`;
    ``digest`` when the caller has it already): each photo read and hashed once, in one call."""
    data = read_bytes(source)
    return data, digest or content_hash(data)


#: From this many bytes a photo's key is computed beside its decode (:func:`read_photo_aside`).
ASIDE_BYTES = 256 * 1024
#: The threads that hash big photos aside (started at the first one).
_HASHER = ThreadPoolExecutor(2, thread_name_prefix="lookalike-hash")


def read_photo_aside(source: PhotoSource) -> tuple[bytes, Callable[[], str]]:
    """A photo's bytes and a call giving its content key, for a caller with work to do before
    it needs the key (decoding, finding the faces): a big file is hashed in another thread
    meanwhile (hashlib lets go of Python's lock; ~2 ms for a 12-megapixel JPEG, a few % of
    its answer), a small one at once."""
    data = read_bytes(source)
    if len(data) < ASIDE_BYTES:
        digest = content_hash(data)
        return data, lambda: digest
    return data, _HASHER.submit(content_hash, data).result


def read_bytes(source: PhotoSource) -> bytes:
    """The bytes of a photo file (or the bytes given). Refuses, with one-line errors, what is not
    a regular file (folders, pipes that would block, devices that never end, link loops) and
    files over :data:`MAX_FILE_BYTES` (checked before reading)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    path = Path(source)
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise ImageError("is a broken symbolic link (its target does not exist)", path,
                             "fix or remove the link") from None
        raise ImageError("file not found", path, "check the path") from None
    except PermissionError:
        raise ImageError("permission denied", path, "make the file and its folders readable"
                         ) from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ImageError("is a loop of symbolic links", path, "fix or remove the link"
                             ) from None
        raise ImageError(f"cannot be read ({err.strerror or err})", path,
                         "check the file and its folder") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError("is a folder, not a photo", path, "give a photo file") from None
    if not stat.S_ISREG(st.st_mode):
        raise ImageError("is not a regular file (a pipe, device or socket)", path,
                         "give a photo file")
    if st.st_size > MAX_FILE_BYTES:
        raise ImageError(f"is {st.st_size / 2**20:,.0f} MB, more than the "
                         f"{MAX_FILE_BYTES // 2**20} MB a photo may be", path,
                         "scale it down or convert it to JPEG")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise ImageError("permission denied", path, "make the file readable (chmod +r)") from None
    except OSError as err:
        raise ImageError(f"cannot be read ({err.strerror or err})", path,
                         "check the file and its folder") from None
    if len(data) > MAX_FILE_BYTES:  # grew while being read
        raise ImageError(f"is more than the {MAX_FILE_BYTES // 2**20} MB a photo may be", path,
                         "scale it down or convert it to JPEG")
    return data


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; transparent areas become white."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min(initial=0)), float(arr.max(initial=1))
        arr = (arr - lo) / max(hi - lo, 1e-9) * 255.0
        return Image.fromarray(arr.astype(np.uint8), "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, im).convert("RGB")
    # CMYK (Adobe's inverted JPEGs are handled by Pillow), L, 1, P, YCbCr, LAB, HSV ...
    return im.convert("RGB")


def load_image(
    source: PhotoSource,
    *,
    max_side: int | None = None,
    name: str | Path | None = None,
) -> np.ndarray:
    """Read a photo (path or bytes) into an ``H×W×3`` RGB ``uint8`` array.

    ``max_side``: when given, the image is decoded at reduced size where the format allows
    (JPEG draft mode) and scaled down so that its longer side is at most ``max_side``.
    ``name`` is used in error messages for bytes input.
    """
    label = name if name is not None else (None if isinstance(source, bytes) else source)
    data = read_bytes(source)
    return decode_photo(data, max_side=max_side, name=label)[0]


def decode_photo(data: bytes, *, max_side: int | None = None, name=None,
                 draft_side: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Photo bytes decoded as :func:`load_image` decodes them, plus the photo's full
    ``(width, height)`` after EXIF orientation — the space in which face boxes are reported,
    whatever size was decoded.

    ``draft_side``: for JPEGs, the cheapest decode (1/2, 1/4 or 1/8 scale) whose longer side is
    still at least this, kept as decoded (no resize unless over ``max_side``)."""
    if not data:
        raise ImageError("is an empty file (0 bytes)", name, "remove it or replace it with a photo")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"is {width}×{height} pixels, more than the {MAX_PIXELS:,} allowed",
                    name, "scale the photo down",
                )
            if min(width, height) < MIN_SIDE:
                raise ImageError(f"is {width}×{height} pixels, too small to show a face",
                                 name, f"use a photo at least {MIN_SIDE} pixels on each side")
            orientation = im.getexif().get(0x0112, 1)
            turned = orientation in (5, 6, 7, 8)
            full = (height, width) if turned else (width, height)
            target = draft_side or max_side
            drafted = False
            if target and im.format == "JPEG":
                # Decode at 1/2, 1/4 or 1/8 scale when that still leaves >= target pixels.
                scale = target / max(width, height)
                reduced = _reduced_jpeg(data, im, scale, orientation)
                if reduced is not None:
                    if max_side and max(reduced.shape[:2]) > max_side:
                        return _fit(Image.fromarray(reduced), max_side), full
                    return reduced, full
                if scale < 1:
                    im.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
                    drafted = True
            if getattr(im, "is_animated", False):
                im.seek(0)  # the first frame of an animated GIF / WebP
            im.load()
            im = ImageOps.exif_transpose(im) or im
            if not drafted:  # Pillow turns some formats (TIFF) itself: trust the result
                full = im.size
            im = _to_rgb(im)
        except ImageError:
            raise
        except (UnidentifiedImageError, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as err:
            if isinstance(err, Image.DecompressionBombError | Image.DecompressionBombWarning):
                raise ImageError(f"has more than {MAX_PIXELS:,} pixels (a decompression bomb?)",
                                 name, "scale the photo down") from None
            if is_heif(data):
                raise ImageError("is a HEIC/HEIF photo (iPhone format), which lookalike cannot "
                                 "read", name, "convert it to JPEG (or set the camera to "
                                 "'Most Compatible')") from None
            raise ImageError("is not an image Pillow can read", name,
                             "remove it or convert it to JPEG/PNG") from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as err:
            # struct.error / IndexError: Pillow's GIF reader on damaged frames (found by fuzzing)
            msg = str(err).split("\n")[0] or type(err).__name__
            raise ImageError(f"is damaged or truncated ({msg})", name,
                             "re-export or remove it") from None
    return _fit(im, max_side), full


def _fit(im: Image.Image, max_side: int | None) -> np.ndarray:
    """``im`` as an array, scaled down to ``max_side`` on its longer side when larger."""
    if max_side and max(im.size) > max_side:
        scale = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


#: PIL's EXIF transposition for each orientation, done on an (H, W, 3) array.
_ORIENT = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1),
}


def _reduced_jpeg(data: bytes, im: Image.Image, scale: float, orientation: int
                  ) -> np.ndarray | None:
    """A big JPEG decoded by OpenCV at 1/2, 1/4 or 1/8 scale (``IMREAD_REDUCED_COLOR_*``:
    the same libjpeg-turbo DCT scaling as Pillow's draft mode, the same pixels, ~12 % less CPU on
    12 MP photos; BENCHMARKS.md "Fast face path"), EXIF orientation applied as Pillow does.
    ``None`` (Pillow decodes) when no reduction applies, for colour spaces other than RGB and
    grey, and for a file that does not end with the JPEG end marker: OpenCV pads a truncated
    JPEG with grey where Pillow reports it damaged."""
    k = 8 if scale <= 1 / 8 else 4 if scale <= 1 / 4 else 2 if scale <= 1 / 2 else 1
    if k == 1 or im.mode not in ("RGB", "L") or not data.rstrip(b"\0\r\n ").endswith(b"\xff\xd9"):
        return None
    import cv2

    flag = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}[k] | cv2.IMREAD_IGNORE_ORIENTATION
    rgb_flag = getattr(cv2, "IMREAD_COLOR_RGB", None)  # OpenCV >= 4.10
    if rgb_flag is not None:
        # libjpeg-turbo writes RGB itself: the same pixels as BGR + cvtColor, without the
        # conversion's pass (~0.25 ms CPU of ~17 for a 12 MP photo at 1/4; NOTES-tail.md)
        flag = (flag & ~cv2.IMREAD_COLOR) | rgb_flag
    out = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if out is None or out.ndim != 3:
        return None
    # (a channel-reversed numpy copy: 5x slower than cvtColor)
    rgb = out if rgb_flag is not None else cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    if orientation in _ORIENT:
        rgb = np.ascontiguousarray(_ORIENT[orientation](rgb))
    return rgb


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
