"""REST endpoints of files (API.md "Files"); thin: parse, call, shape."""

from django.http import FileResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from files import images, selectors, services, storage
from files.serializers import FileSerializer, FileUploadSerializer, file_to_api
from slackclone import errors
from slackclone.api.schema import error_responses

_CONTENT_DESCRIPTION = (
    "The bytes: images (JPEG, PNG, GIF, WebP) `inline`, everything else `Content-Disposition: attachment` "
    "(RFC 6266, with `filename*` for any name); always `X-Content-Type-Options: nosniff` and a sandboxing "
    "`Content-Security-Policy`. With an S3-compatible store, a 302 to a signed URL of the store instead, valid "
    "at most 5 minutes (`FILES_SIGNED_URL_SECONDS`). 404 for whoever may not fetch the file: the rule is "
    "checked on every request."
)


class FilesApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="files_upload",
        tags=["files"],
        summary="Upload a file",
        description=(
            "`multipart/form-data` with exactly one part `file`, with a filename (400 for two parts or none). "
            "Streamed to storage (never held in memory); over "
            "`MAX_UPLOAD_BYTES` (default 25 MiB) 413 `payload_too_large`, refused before the body is read past "
            "it. `mime_type` is detected from the bytes. Images get `image` and a thumbnail; EXIF/GPS is "
            "stripped; an image of more than `FILES_MAX_IMAGE_PIXELS` pixels is refused, 400 `image_too_large`. "
            "Only the uploader sees it until a message carries it (send with `file_ids`). 429 `images_busy` "
            "(with `Retry-After`) when the server is decoding too many images at once."
        ),
        request={"multipart/form-data": FileUploadSerializer},
        responses={201: FileSerializer, **error_responses(400, 401, 413, 429, 503)},
    )
    def post(self, request):
        parts = request.FILES.getlist("file")
        if len(parts) > 1:  # which one did the client mean? Storing the last one silently lost the others.
            text = "Give exactly one part named `file` (one upload per request)."
            raise errors.ValidationFailed(text, fields={"file": [text]})
        if not parts and "file" in request.POST:  # a part without a filename is a form field, not a file
            text = "The part `file` has no filename: send it as a file (curl: -F file=@path)."
            raise errors.ValidationFailed(text, fields={"file": [text]})
        if not parts:
            raise errors.ValidationFailed("Give the file in a part named `file`.", fields={"file": ["Required."]})
        uploaded = parts[0]
        file = services.file_upload(user=request.user, workspace=request.workspace, uploaded=uploaded)
        return Response(file_to_api(file), status=status.HTTP_201_CREATED)


class FileApi(APIView):
    @extend_schema(
        operation_id="files_retrieve",
        tags=["files"],
        summary="A file's metadata",
        responses={200: FileSerializer, **error_responses(401, 404)},
    )
    def get(self, request, file_id):
        file = selectors.file_get_for_reader(user=request.user, workspace=request.workspace, file_id=file_id)
        return Response(file_to_api(file))

    @extend_schema(
        operation_id="files_destroy",
        tags=["files"],
        summary="Delete a file",
        description="Its uploader only (403 `not_uploader` for another reader). The file leaves every message "
        "that carried it (each announced with `message.updated`) and its bytes are deleted.",
        responses={204: None, **error_responses(401, 403, 404, 429)},
    )
    def delete(self, request, file_id):
        services.file_delete(user=request.user, workspace=request.workspace, file_id=file_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _serve(file, *, key: str, content_type: str, inline: bool):
    disposition = content_disposition_header(
        not inline, file.name if key == file.storage_key else f"{file.name}.thumbnail.png"
    )
    if storage.is_remote():
        response = HttpResponseRedirect(storage.signed_url(key, content_type=content_type, disposition=disposition))
    else:
        handle = storage.open_(key)
        response = FileResponse(handle, content_type=content_type)
        response["Content-Disposition"] = disposition
        response["Content-Length"] = str(handle.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


_BYTES = OpenApiResponse(description="The bytes (or 302 to a signed URL of the store).")


class FileContentApi(APIView):
    @extend_schema(
        operation_id="files_content",
        tags=["files"],
        summary="A file's bytes",
        description=_CONTENT_DESCRIPTION,
        responses={(200, "*/*"): _BYTES, 302: OpenApiResponse(description="Signed URL."), **error_responses(401, 404)},
    )
    def get(self, request, file_id):
        file = selectors.file_get_for_reader(user=request.user, workspace=request.workspace, file_id=file_id)
        inline = file.mime_type in images.IMAGE_MIME_TYPES
        return _serve(file, key=file.storage_key, content_type=file.mime_type, inline=inline)


class FileThumbnailApi(APIView):
    @extend_schema(
        operation_id="files_thumbnail",
        tags=["files"],
        summary="An image's thumbnail (PNG, at most 360x360)",
        description=_CONTENT_DESCRIPTION + " 404 for a file that is not an image.",
        responses={
            (200, "image/png"): _BYTES,
            302: OpenApiResponse(description="Signed URL."),
            **error_responses(401, 404),
        },
    )
    def get(self, request, file_id):
        file = selectors.file_get_for_reader(user=request.user, workspace=request.workspace, file_id=file_id)
        if not file.thumbnail_key:
            raise errors.NotFound("This file has no thumbnail.", code="no_thumbnail")
        return _serve(file, key=file.thumbnail_key, content_type="image/png", inline=True)
