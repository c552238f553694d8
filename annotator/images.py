"""Pillow validation of uploaded and imported images.

Every image that enters the system (manifest import, the scoring API) goes
through ``image_validate``, so all of them are refused for the same reasons
with the same rule names:

- ``too_many_bytes``: larger than ``settings.IMAGE_MAX_BYTES`` (checked
  before Pillow sees a byte);
- ``not_an_image``: Pillow cannot identify the data (and it does not even
  start with a PNG, JPEG or WEBP signature: then it is ``corrupt``);
- ``format``: identified, but not PNG, JPEG or WEBP;
- ``too_many_pixels``: the header declares more than
  ``settings.IMAGE_MAX_PIXELS`` pixels (checked from the header, before a
  single pixel is decoded);
- ``decompression_bomb``: Pillow's own guard fires: more than twice the limit
  (``PIL.Image.DecompressionBombError``, Pillow's "bomb" tier; its warning
  tier, between one and two times the limit, is ``too_many_pixels``), or a
  PNG text/ICC chunk that inflates past ``PngImagePlugin.MAX_TEXT_CHUNK``;
- ``corrupt``: ``verify()`` or a full ``load()`` fails (bad checksums,
  truncated data, broken streams).
"""
from __future__ import annotations

import hashlib
import threading
import warnings
from dataclasses import dataclass
from io import BytesIO

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from annotator.errors import ApplicationError

ALLOWED_FORMATS: dict[str, str] = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}

# ``warnings.catch_warnings`` swaps the process-wide filter list, which is not
# thread-safe; the import service validates on a thread pool. Only the header
# parse runs under the lock, so it costs microseconds per image.
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class ValidatedImage:
    width: int
    height: int
    format: str  # Pillow's name: "PNG", "JPEG" or "WEBP"
    sha256: str
    byte_size: int

    @property
    def extension(self) -> str:
        return ALLOWED_FORMATS[self.format]


def _refuse(name: str, rule: str, message: str) -> ApplicationError:
    return ApplicationError(f"{name}: {message}", field="image", rule=rule)


def _looks_like_allowed_format(data: bytes) -> bool:
    """The signature of PNG, JPEG or WEBP: such a file that Pillow cannot open is broken, not foreign."""
    return (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"))


def _is_text_chunk_bomb(exc: Exception) -> bool:
    # PngImagePlugin refuses zTXt/iTXt/iCCP chunks that inflate too far with
    # a plain ValueError; its message is the only thing that tells it apart.
    return isinstance(exc, ValueError) and "Decompressed" in str(exc)


def image_validate(*, data: bytes, name: str) -> ValidatedImage:
    """Check that ``data`` is a sane PNG/JPEG/WEBP; raise ``ApplicationError(field="image")`` if not."""
    max_bytes = settings.IMAGE_MAX_BYTES
    max_pixels = settings.IMAGE_MAX_PIXELS
    if len(data) > max_bytes:
        raise _refuse(name, "too_many_bytes", f"{len(data)} bytes exceed the limit of {max_bytes}.")
    if not data:
        raise _refuse(name, "not_an_image", "the file is empty.")
    # Pillow's own guard follows the project's limit (tests override the setting).
    Image.MAX_IMAGE_PIXELS = max_pixels

    # 1. Header only: identify, check format and declared size before decoding.
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            header = Image.open(BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _refuse(name, "decompression_bomb", str(exc)) from exc
    except Image.DecompressionBombWarning as exc:
        raise _refuse(name, "too_many_pixels", str(exc)) from exc
    except UnidentifiedImageError as exc:
        if _looks_like_allowed_format(data):
            raise _refuse(name, "corrupt", "the file starts like an image but cannot be read.") from exc
        raise _refuse(name, "not_an_image", "not an image Pillow can identify.") from exc
    except Exception as exc:  # noqa: BLE001 - any parser failure on the header is a broken file
        if _is_text_chunk_bomb(exc):
            raise _refuse(name, "decompression_bomb", str(exc)) from exc
        raise _refuse(name, "corrupt", f"unreadable header ({exc}).") from exc
    with header:
        fmt = header.format or ""
        width, height = header.size
        if fmt not in ALLOWED_FORMATS:
            raise _refuse(name, "format", f"format {fmt or 'unknown'} is not one of PNG, JPEG, WEBP.")
        if width <= 0 or height <= 0:
            raise _refuse(name, "corrupt", f"declared size {width}x{height} is empty.")
        # Also the backstop for code that switched Pillow's guard off (MAX_IMAGE_PIXELS = None).
        if width * height > max_pixels:
            raise _refuse(name, "too_many_pixels", f"{width}x{height} exceeds {max_pixels} pixels.")
        try:
            header.verify()
        except Exception as exc:  # noqa: BLE001
            if _is_text_chunk_bomb(exc):
                raise _refuse(name, "decompression_bomb", str(exc)) from exc
            raise _refuse(name, "corrupt", f"verification failed ({exc}).") from exc

    # 2. verify() leaves the image unusable and misses truncated pixel data
    #    (JPEG has no checksums at all): reopen and decode every pixel.
    try:
        with Image.open(BytesIO(data)) as full:
            full.load()
    except Exception as exc:  # noqa: BLE001
        if _is_text_chunk_bomb(exc):
            raise _refuse(name, "decompression_bomb", str(exc)) from exc
        raise _refuse(name, "corrupt", f"decoding failed ({exc}).") from exc

    return ValidatedImage(width=width, height=height, format=fmt,
                          sha256=hashlib.sha256(data).hexdigest(), byte_size=len(data))
