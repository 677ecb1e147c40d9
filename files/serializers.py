"""File JSON out (`file_to_api` for a row, `file_entry_to_api` for what a message
document stores; both the same shape, API.md "Files"), and the schema shapes."""

from rest_framework import serializers

from slackclone.api.fields import format_time

API_PREFIX = "/api/v1/files/"


def _shape(*, fid, name, size, mime_type, sha256, uploader_id, created_at, width, height, has_thumbnail) -> dict:
    return {
        "id": fid,
        "name": name,
        "size": size,
        "mime_type": mime_type,
        "sha256": sha256,
        "uploader_id": uploader_id,
        "created_at": format_time(created_at),
        "image": {"width": width, "height": height} if width is not None else None,
        "thumbnail_url": f"{API_PREFIX}{fid}/thumbnail" if has_thumbnail else None,
        "url": f"{API_PREFIX}{fid}/content",
    }


def file_to_api(file) -> dict:
    return _shape(
        fid=str(file.pk),
        name=file.name,
        size=file.size,
        mime_type=file.mime_type,
        sha256=file.sha256,
        uploader_id=str(file.uploader_id),
        created_at=file.created_at,
        width=file.width,
        height=file.height,
        has_thumbnail=bool(file.thumbnail_key),
    )


def file_entry_to_api(entry: dict) -> dict:
    """A message document's file entry (files.services.file_document) as the API shows it."""
    from messaging.repositories import utc

    return _shape(
        fid=entry["id"],
        name=entry["name"],
        size=entry["size"],
        mime_type=entry["mimeType"],
        sha256=entry["sha256"],
        uploader_id=entry["uploaderId"],
        created_at=utc(entry["createdAt"]),
        width=entry.get("width"),
        height=entry.get("height"),
        has_thumbnail=entry.get("hasThumbnail", False),
    )


class FileUploadSerializer(serializers.Serializer):
    """The multipart body of POST /files (schema only; the view reads request.FILES)."""

    file = serializers.FileField(
        help_text="The file's bytes. Its name is sanitised; its type is detected from the bytes."
    )


class ImageSizeSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class FileSerializer(serializers.Serializer):
    """The File shape (schema only; file_to_api builds the JSON)."""

    id = serializers.UUIDField()
    name = serializers.CharField(help_text="Sanitised: no path, control or bidi characters; at most 255 characters.")
    size = serializers.IntegerField(help_text="Bytes.")
    mime_type = serializers.CharField(help_text="Detected from the bytes, never taken from the client.")
    sha256 = serializers.CharField(help_text="Hex SHA-256 of the bytes served.")
    uploader_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    image = ImageSizeSerializer(allow_null=True, help_text="Images only (JPEG, PNG, GIF, WebP), else null.")
    thumbnail_url = serializers.CharField(allow_null=True, help_text="A PNG of at most 360x360, images only.")
    url = serializers.CharField(help_text="Path of the content: GET with the same Authorization.")

    class Meta:
        ref_name = "File"
