"""Where the bytes live: Django's default storage (settings.STORAGES["default"]).

By default a FileSystemStorage under the data directory (`FILES_ROOT`); with
`STORAGE_URL=s3://...` django-storages' S3Storage on any S3-compatible store. Keys:
`<workspace id>/<file id>/original` and `.../thumbnail.png`, chosen here (never from a
client's name), so two uploads never share an object.
"""

import contextlib
import logging

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage

from slackclone import errors

logger = logging.getLogger(__name__)


def original_key(*, workspace_id, file_id) -> str:
    return f"{workspace_id}/{file_id}/original"


def thumbnail_key(*, workspace_id, file_id) -> str:
    return f"{workspace_id}/{file_id}/thumbnail.png"


def _failures() -> tuple[type[BaseException], ...]:
    """What the storage raises when it cannot take a write: OSError (a full, missing or
    read-only directory) and botocore's errors (S3 unreachable, refusing, failing)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # no S3 support installed
        return (OSError,)
    return (OSError, BotoCoreError, ClientError)


@contextlib.contextmanager
def _store_unavailable():
    """The storage's failures are StoreUnavailable("files"): 503 with Retry-After, as
    for the other stores (the contract: "503 a store is unavailable"), not a 500."""
    try:
        yield
    except _failures() as exc:
        logger.warning("file storage unavailable: %s: %s", type(exc).__name__, exc)
        raise errors.StoreUnavailable("files") from exc


def put(key: str, fh) -> None:
    """Stream a seekable file object to `key` (S3: a multipart upload in chunks)."""
    fh.seek(0)
    with _store_unavailable():
        saved = default_storage.save(key, File(fh, name=key))
    if saved != key:  # FileSystemStorage renames on a clash: keys are unique, so this is a bug
        default_storage.delete(saved)
        raise RuntimeError(f"storage key {key} already taken")


def put_bytes(key: str, data: bytes) -> None:
    with _store_unavailable():
        saved = default_storage.save(key, ContentFile(data, name=key))
    if saved != key:
        default_storage.delete(saved)
        raise RuntimeError(f"storage key {key} already taken")


def open_(key: str):
    """The object for reading (local storage; S3 answers with signed URLs). A missing
    object (a row without its bytes: check_consistency reports it) is 404
    `file_content_missing`, as S3 answers such a signed URL; an unreadable storage is
    503 (`_store_unavailable`)."""
    try:
        with _store_unavailable():
            return default_storage.open(key, "rb")
    except errors.StoreUnavailable as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            logger.error("storage object %s is missing: check_consistency reports it", key)
            raise errors.NotFound("The file's content is missing.", code="file_content_missing") from exc
        raise


def delete(*keys: str | None) -> None:
    """Delete objects; never raises (a leftover is reported by check_consistency)."""
    for key in keys:
        if not key:
            continue
        try:
            default_storage.delete(key)
        except Exception:
            logger.exception("storage object %s not deleted: check_consistency reports it", key)


def exists(key: str) -> bool:
    return default_storage.exists(key)


def is_remote() -> bool:
    """True for an object store that can hand out signed URLs (S3)."""
    return hasattr(default_storage, "bucket_name")


def signed_url(key: str, *, content_type: str, disposition: str) -> str:
    """A presigned GET URL of `key`, valid `FILES_SIGNED_URL_SECONDS` (at most 300),
    whose answer carries our Content-Type and Content-Disposition."""
    return default_storage.url(
        key,
        parameters={"ResponseContentType": content_type, "ResponseContentDisposition": disposition},
        expire=settings.FILES_SIGNED_URL_SECONDS,
    )


def all_keys() -> set[str]:
    """Every key under the storage's root (for check_consistency): walks directories."""
    keys: set[str] = set()

    def walk(prefix: str) -> None:
        dirs, files = default_storage.listdir(prefix)
        for name in files:
            keys.add(f"{prefix}{name}" if not prefix else f"{prefix.rstrip('/')}/{name}")
        for name in dirs:
            walk(f"{prefix.rstrip('/')}/{name}/" if prefix else f"{name}/")

    with contextlib.suppress(FileNotFoundError):
        walk("")
    return keys


def size(key: str) -> int:
    return default_storage.size(key)


def modified_before(key: str, when) -> bool:
    try:
        return default_storage.get_modified_time(key) < when
    except (FileNotFoundError, NotImplementedError):
        return True


def delete_stray(keys: list[str]) -> int:
    """Delete objects that check_consistency found without metadata (re-checked: a row
    may have been written meanwhile); returns how many."""
    from files.models import File

    taken = set(File.objects.filter(storage_key__in=keys).values_list("storage_key", flat=True))
    taken |= set(File.objects.filter(thumbnail_key__in=keys).values_list("thumbnail_key", flat=True))
    stray = [key for key in keys if key not in taken]
    delete(*stray)
    return len(stray)
