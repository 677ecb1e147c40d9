"""The upload handler of multipart bodies (settings.FILE_UPLOAD_HANDLERS)."""

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from slackclone import errors


class LimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Django's TemporaryFileUploadHandler (every file part is written to a temporary
    file as it arrives, never kept in memory) that counts the bytes of a part and
    stops with 413 `payload_too_large` as soon as they pass MAX_UPLOAD_BYTES."""

    def new_file(self, *args, **kwargs):
        self._received = 0
        return super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self._received += len(raw_data)
        if self._received > settings.MAX_UPLOAD_BYTES:
            self.file.close()
            raise errors.PayloadTooLarge(f"A file may have at most {settings.MAX_UPLOAD_BYTES} bytes.")
        return super().receive_data_chunk(raw_data, start)
