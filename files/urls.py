"""File endpoints; included under /api/v1/. Ids are matched as any string and checked
by the selectors (a malformed id is a 404 in our envelope)."""

from django.urls import path

from files import apis

urlpatterns = [
    path("files", apis.FilesApi.as_view(), name="files"),
    path("files/<str:file_id>", apis.FileApi.as_view(), name="file"),
    path("files/<str:file_id>/content", apis.FileContentApi.as_view(), name="file-content"),
    path("files/<str:file_id>/thumbnail", apis.FileThumbnailApi.as_view(), name="file-thumbnail"),
]
