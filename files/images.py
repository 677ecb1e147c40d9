"""Image handling with Pillow: size, a thumbnail, metadata stripped, bombs refused.

- Decompression bombs: an image of more than `FILES_MAX_IMAGE_PIXELS` pixels is
  refused (400 `image_too_large`) from its header, before it is decoded (Pillow's
  DecompressionBombWarning is made an error, DecompressionBombError caught).
- Animated images (GIF, APNG, WebP): the stored file is kept as sent; the thumbnail
  is its first frame.
- CMYK (and other modes): converted to RGB(A) for the thumbnail.
- EXIF and GPS: the thumbnail never carries metadata (it is a fresh PNG); a still
  JPEG, PNG or WebP that carries EXIF or XMP is re-encoded without them (its orientation
  applied first), so the bytes served do not say where the photo was taken.
"""

import io
import logging
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps

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


def inspect_image(fh, *, mime_type: str) -> ImageInfo | None:
    """ImageInfo for an image file (seekable, at any position), None if Pillow cannot
    read it (it is then stored as a plain file). Raises ValidationFailed (400
    `image_too_large`) for a decompression bomb.

    Pillow's decoders and its EXIF writer raise far more than OSError on hostile or
    damaged input (IndexError and struct.error for a GIF cut inside its second frame,
    TypeError for an EXIF tag stored with the wrong type, ...): any of them means "not
    an image we can read", never a 500. A damaged EXIF block alone does not: the
    orientation is then left as stored and the metadata is still dropped."""
    fh.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = _open(fh)
            animated = bool(getattr(image, "is_animated", False))
            image.seek(0)
            frame = image.copy()
    except errors.ValidationFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large() from None
    except Exception:  # any decoder failure on untrusted bytes: a plain file
        logger.info("image not readable by Pillow, stored as a plain file", exc_info=True)
        return None
    if not animated:
        try:
            frame = ImageOps.exif_transpose(frame)
        except Exception:  # a damaged EXIF block: the pixels as stored (the EXIF is dropped below)
            logger.info("EXIF orientation not applied (damaged EXIF)", exc_info=True)
    try:
        width, height = frame.size
        stripped = None
        if not animated and any(image.info.get(key) for key in _METADATA_KEYS) and mime_type in _FORMATS:
            stripped = _encode(frame, _FORMATS[mime_type])
        thumb = frame.convert("RGBA" if _has_alpha(frame) else "RGB")
        thumb.thumbnail(THUMBNAIL_SIZE)
        out = io.BytesIO()
        thumb.save(out, "PNG", optimize=True, exif=b"")
    except Exception:  # as above: an image Pillow cannot re-encode is a plain file
        logger.info("image not re-encodable by Pillow, stored as a plain file", exc_info=True)
        return None
    return ImageInfo(width=width, height=height, thumbnail=out.getvalue(), stripped=stripped)


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
