"""Image handling with Pillow: size, a thumbnail, metadata stripped, bombs refused.

- Decompression bombs: an image of more than `FILES_MAX_IMAGE_PIXELS` pixels is
  refused (400 `image_too_large`) from its header, before it is decoded (Pillow's
  DecompressionBombWarning is made an error, DecompressionBombError caught).
- Animated images (GIF, APNG, WebP): the stored file is kept as sent, less the
  metadata chunks of an APNG or animated WebP (EXIF, XMP, text); the thumbnail is its
  first frame.
- CMYK (and other modes): converted to RGB(A) for the thumbnail.
- EXIF and GPS: the thumbnail never carries metadata (it is a fresh PNG); a still
  JPEG, PNG or WebP that carries EXIF or XMP is re-encoded without them (its orientation
  applied first), so the bytes served do not say where the photo was taken.
"""

import contextlib
import io
import logging
import threading
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image

from slackclone import errors

logger = logging.getLogger(__name__)

IMAGE_MIME_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
THUMBNAIL_SIZE = (360, 360)
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# Where Pillow puts metadata that can hold a location: EXIF, and XMP (which carries
# exif:GPSLatitude... as text), as JPEG, WebP and PNG (iTXt, or ImageMagick's raw
# profiles in text chunks) store them.
_METADATA_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "Raw profile type exif", "Raw profile type xmp")


@dataclass(frozen=True, slots=True)
class ImageInfo:
    width: int
    height: int
    thumbnail: bytes  # PNG
    stripped: bytes | None  # the image re-encoded without metadata, if it had any


def _too_large() -> errors.ValidationFailed:
    text = f"The image has more than {settings.FILES_MAX_IMAGE_PIXELS} pixels."
    return errors.ValidationFailed(text, fields={"file": [text]}, code="image_too_large")


def _open(fh) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = settings.FILES_MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(fh)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_large() from None
    if image.width * image.height > settings.FILES_MAX_IMAGE_PIXELS:
        raise _too_large()
    return image


_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_turns_lock = threading.Lock()
_turns: dict[int, threading.BoundedSemaphore] = {}


def _decode_turns(count: int) -> threading.BoundedSemaphore:
    with _turns_lock:
        return _turns.setdefault(count, threading.BoundedSemaphore(count))


@contextlib.contextmanager
def _decode_turn():
    """At most FILES_IMAGE_DECODES images decoded at once in this process: a decoded
    image holds up to FILES_MAX_IMAGE_PIXELS x 4 bytes (160 MB at 40 Mpx) whatever its
    file's size, so 20 parallel uploads of one 150 kB PNG (6300 x 6300, one colour)
    asked for 12 GB. An upload that waits FILES_IMAGE_DECODE_WAIT_SECONDS for its turn
    is answered 429 `images_busy` (Retry-After), nothing stored."""
    turns = _decode_turns(max(1, settings.FILES_IMAGE_DECODES))
    if not turns.acquire(timeout=settings.FILES_IMAGE_DECODE_WAIT_SECONDS):
        raise errors.Busy("Too many images are being processed; try again shortly.", code="images_busy", retry_after=2)
    try:
        yield
    finally:
        turns.release()


def inspect_image(fh, *, mime_type: str) -> ImageInfo | None:
    """ImageInfo for an image file (seekable, at any position), None if Pillow cannot
    read it (it is then stored as a plain file). Raises ValidationFailed (400
    `image_too_large`) for a decompression bomb, Busy (429 `images_busy`) when this
    process is decoding FILES_IMAGE_DECODES images already and none finished in time.

    Pillow's decoders and its EXIF writer raise far more than OSError on hostile or
    damaged input (IndexError and struct.error for a GIF cut inside its second frame,
    TypeError for an EXIF tag stored with the wrong type, ...): any of them means "not
    an image we can read", never a 500. A damaged EXIF block alone does not: its
    orientation is applied if it can be read (else the pixels stay as stored), and the
    metadata is dropped all the same.

    Memory: the decoded image and the thumbnail's bands, not four decoded images (a
    copy, exif_transpose's copy, convert's copy and resize's premultiplied copy: 248
    MiB of peak RSS for a 4000 x 4000 RGBA PNG of 61 MiB of pixels; now 72-76 MiB)."""
    with _decode_turn():
        return _inspect(fh, mime_type=mime_type)


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # a damaged EXIF block: the pixels as stored (the EXIF is dropped below)
        logger.info("EXIF orientation not readable (damaged EXIF)", exc_info=True)
        return 1


def _inspect(fh, *, mime_type: str) -> ImageInfo | None:
    fh.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = _open(fh)
            animated = bool(getattr(image, "is_animated", False))
            image.seek(0)
            image.load()
    except errors.ValidationFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large() from None
    except Exception:  # any decoder failure on untrusted bytes: a plain file
        logger.info("image not readable by Pillow, stored as a plain file", exc_info=True)
        return None
    try:
        has_metadata = any(image.info.get(key) for key in _METADATA_KEYS)
        # Applied here, not by ImageOps.exif_transpose: it rewrites the EXIF block
        # (which raised on damaged ones) that is dropped anyway.
        method = None if animated else _ORIENTATIONS.get(_orientation(image))
        if method is not None:
            image = image.transpose(method)  # the stored pixels are released
        width, height = image.size
        stripped = None
        if not animated and has_metadata and mime_type in _FORMATS:
            stripped = _encode(image, _FORMATS[mime_type])
        elif animated and has_metadata:  # every frame re-encoded would cost; the metadata chunks go instead
            stripped = _without_metadata_chunks(fh, mime_type=mime_type)
        thumb = _thumbnail(image)
        del image  # the full-size pixels go
        out = io.BytesIO()
        thumb.save(out, "PNG", optimize=True, exif=b"")
    except Exception:  # as above: an image Pillow cannot re-encode is a plain file
        logger.info("image not re-encodable by Pillow, stored as a plain file", exc_info=True)
        return None
    return ImageInfo(width=width, height=height, thumbnail=out.getvalue(), stripped=stripped)


def _thumbnail(image: Image.Image) -> Image.Image:
    """The image in RGB or RGBA, scaled to fit THUMBNAIL_SIZE (never enlarged) as
    Image.thumbnail scales (a box-filter reduce to at most twice the size, then
    Lanczos), without a second full-size image: converting the whole image first (a
    palette or CMYK one), or resize and reduce on RGBA (which copy it all into
    premultiplied alpha), each held one more decoded image; here a large image is
    converted and reduced band by band."""
    mode = "RGBA" if _has_alpha(image) else "RGB"
    width, height = image.size
    scale = min(THUMBNAIL_SIZE[0] / width, THUMBNAIL_SIZE[1] / height, 1)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    factors = (max(1, width // (2 * size[0])), max(1, height // (2 * size[1])))
    image = _reduce(image, factors, mode=mode) if factors != (1, 1) else image.convert(mode)
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


_BAND_PIXELS = 1 << 20  # about 4 MB of RGBA per band


def _reduce(image: Image.Image, factors: tuple[int, int], *, mode: str) -> Image.Image:
    """image.convert(mode).reduce(factors), in horizontal bands: each band's copies are
    small, and the result is the same (bands are whole multiples of the vertical factor)."""
    factor_x, factor_y = factors
    rows = max(factor_y, _BAND_PIXELS // image.width // factor_y * factor_y)
    result = Image.new(mode, (-(-image.width // factor_x), -(-image.height // factor_y)))
    for top in range(0, image.height, rows):
        band = image.crop((0, top, image.width, min(top + rows, image.height)))
        result.paste(band.convert(mode).reduce(factors), (0, top // factor_y))
    return result


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_METADATA = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt"})
_WEBP_METADATA = frozenset({b"EXIF", b"XMP "})
_VP8X_EXIF_XMP = 0x08 | 0x04  # VP8X flags: EXIF present, XMP present


def _without_metadata_chunks(fh, *, mime_type: str) -> bytes | None:
    """An animated PNG or WebP without its metadata chunks (EXIF, XMP, text), frames
    untouched; None if its chunk structure is not what it should be (kept as sent)."""
    fh.seek(0)
    data = fh.read()
    try:
        if mime_type == "image/png" and data.startswith(_PNG_SIGNATURE):
            return _png_without(data)
        if mime_type == "image/webp" and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_without(data)
    except (ValueError, IndexError):
        logger.info("metadata chunks not removed (malformed container)", exc_info=True)
    return None


def _png_without(data: bytes) -> bytes:
    out, pos = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length  # length, type, data, CRC
        if end > len(data):
            raise ValueError("truncated PNG chunk")
        if data[pos + 4 : pos + 8] not in _PNG_METADATA:
            out.append(data[pos:end])
        pos = end
    return b"".join(out)


def _webp_without(data: bytes) -> bytes:
    out, pos = [], 12
    while pos < len(data):
        fourcc, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size + (size & 1)  # chunks are padded to an even size
        if end > len(data):
            raise ValueError("truncated WebP chunk")
        chunk = data[pos:end]
        if fourcc == b"VP8X":
            chunk = chunk[:8] + bytes([chunk[8] & ~_VP8X_EXIF_XMP & 0xFF]) + chunk[9:]
        if fourcc not in _WEBP_METADATA:
            out.append(chunk)
        pos = end
    body = b"WEBP" + b"".join(out)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image = image.convert("RGB") if image.mode not in ("RGB", "L", "CMYK") else image
        image.save(out, "JPEG", quality=92, exif=b"")
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=92, exif=b"")
    else:
        image.save(out, "PNG", exif=b"")
    return out.getvalue()
