"""Upload checking for the web surface: the request body read into memory with a size limit,
the photo type sniffed from its first bytes, its pixel count checked from the header before
decoding. Every refusal is an :class:`ApiError` (a 4xx with a JSON body)."""

from __future__ import annotations

import io
import os
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from lookalike.photos.images import MIN_SIDE, content_hash, is_heif

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
#: Photos in one "several photos of one person" request.
MAX_PHOTOS = 8
#: Room for multipart headers and boundaries around the photo bytes.
FORM_OVERHEAD = 64 * 1024

_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\xff\xd8\xff", 0, "jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"GIF87a", 0, "gif"),
    (b"GIF89a", 0, "gif"),
    (b"BM", 0, "bmp"),
    (b"II*\x00", 0, "tif"),
    (b"MM\x00*", 0, "tif"),
]
SUPPORTED = "JPEG, PNG, WebP, GIF, BMP or TIFF"


def sniff_image_type(data: bytes) -> str | None:
    """The image type from the first bytes (never from the file name or the client's
    Content-Type): ``"jpg"``, ``"png"``, ``"webp"``, ``"gif"``, ``"bmp"``, ``"tif"`` or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for magic, offset, kind in _SIGNATURES:
        if data[offset:offset + len(magic)] == magic:
            return kind
    return None


class ApiError(Exception):
    """An answer with a 4xx status and a JSON body ``{"error": code, "detail": message}``."""

    def __init__(self, status: int, code: str, detail: str,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


class _InMemoryParser(MultiPartParser):
    # Starlette spools parts over 1 MB to a temporary file on disk; uploads stay in memory here
    # (the request body was already read, bounded, into memory).
    spool_max_size = sys.maxsize


def multipart_body(name: str, required: bool = True, many: bool = False,
                   count: int | None = None) -> dict:
    """The OpenAPI request body of a multipart upload in the field ``name`` (``many``: any
    number of files; ``count``: exactly that many)."""
    schema: dict[str, Any] = {"type": "string", "format": "binary"}
    if many or (count or 1) > 1:
        schema = {"type": "array", "items": schema}
        if count:
            schema |= {"minItems": count, "maxItems": count}
    return {"requestBody": {"required": required, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": [name], "properties": {name: schema}}}}}}


async def _read_body(request: Request, limit: int) -> bytes:
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise ApiError(415, "not_multipart", "send the photo as multipart/form-data in "
                       "the field 'photo' (curl -F photo=@me.jpg)")
    declared = request.headers.get("content-length", "")
    too_large = ApiError(413, "too_large", f"the upload is larger than "
                         f"{mb(limit - FORM_OVERHEAD)}; send a smaller photo")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:
        # the client went away mid-upload: nobody reads this answer, but it is not a fault
        raise ApiError(400, "disconnected", "the upload was cut off before its end; send "
                       "it again") from None
    return b"".join(chunks)


async def read_files(request: Request, limit: int, max_files: int) -> list[tuple[str, bytes]]:
    """The (file name, bytes) of every file in a multipart form of at most ``limit`` bytes."""
    body = await _read_body(request, limit)

    async def stream() -> AsyncIterator[bytes]:
        yield body

    try:
        form = await _InMemoryParser(request.headers, stream(), max_files=max_files,
                                     max_fields=20).parse()
    except MultiPartException as err:
        raise ApiError(400, "bad_form", f"the form could not be read ({err})") from None
    files = []
    for _key, value in form.multi_items():
        if isinstance(value, UploadFile):
            files.append((Path(value.filename or "photo").name or "photo", await value.read()))
    await form.close()
    if not files:
        raise ApiError(400, "no_photo", "no photo in the form: send it in the field "
                       "'photo' (curl -F photo=@me.jpg)")
    return files


def _image_size(name: str, data: bytes, kind: str, max_pixels: int) -> tuple[int, int]:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as im:
                return im.size
        except Image.DecompressionBombError:
            return max_pixels, 2
        except Exception:
            raise ApiError(422, "unreadable_image", f"{name} looks like a {kind.upper()} "
                           "file but is damaged; re-export it as JPEG or PNG") from None


def check_photo(name: str, data: bytes, *, max_bytes: int, max_pixels: int,
                keep_dir: Path | None = None) -> str:
    """The photo's type, or the :class:`ApiError` saying what is wrong with it; kept in
    ``keep_dir`` (named by content hash) when given."""
    if not data:
        raise ApiError(400, "empty", f"{name} is empty (0 bytes); choose a photo")
    if len(data) > max_bytes:
        raise ApiError(413, "too_large", f"{name} is {mb(len(data))}, more than the "
                       f"{mb(max_bytes)} allowed; send a smaller photo")
    kind = sniff_image_type(data)
    if kind is None and is_heif(data):
        raise ApiError(415, "not_an_image", f"{name} is a HEIC/HEIF photo (iPhone format), "
                       "which lookalike cannot read: convert it to JPEG (or set the camera "
                       "to 'Most Compatible')")
    if kind is None:
        raise ApiError(415, "not_an_image", f"{name} is not an image: send a {SUPPORTED} "
                       "photo")
    width, height = _image_size(name, data, kind, max_pixels)
    if width * height > max_pixels:
        raise ApiError(413, "too_many_pixels", f"{name} has more than {max_pixels:,} "
                       "pixels; scale it down")
    if min(width, height) < MIN_SIDE:
        raise ApiError(422, "too_small", f"{name} is {width}×{height} pixels, too small to "
                       f"show a face; send a photo at least {MIN_SIDE} pixels on each side")
    if keep_dir is not None:
        keep(keep_dir, data, kind)
    return kind


def keep(folder: Path, data: bytes, kind: str) -> None:
    path = folder / f"{content_hash(data)}.{kind}"
    if path.exists():
        return
    tmp = path.with_suffix(f".{kind}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"
